"""intake: the partners' door. Validates, stores durably, answers 202, relays to Kafka."""
