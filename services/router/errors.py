"""router's domain errors, each with its HTTP meaning (rendered as problem+json by shared.http)."""

from uuid import UUID

from shared.http import Problem


class CaseNotFound(Problem):
    def __init__(self, case_id: UUID) -> None:
        super().__init__(404, f"There is no case {case_id}.")


class IllegalTransition(Problem):
    """A change the case's status does not allow, e.g. acknowledging a resolved case."""

    def __init__(self, case_id: UUID, status: str, action: str) -> None:
        super().__init__(
            409, f"Case {case_id} is {status}; it cannot be {action}.", status_now=status
        )


class CaseAlreadyResolved(IllegalTransition):
    def __init__(self, case_id: UUID, action: str) -> None:
        super().__init__(case_id, "resolved", action)


class UnknownTeam(Problem):
    def __init__(self, team: str) -> None:
        super().__init__(422, f"There is no team {team!r}; GET /v1/teams lists them.")


class NobodyOnCall(Problem):
    def __init__(self, team: str) -> None:
        super().__init__(422, f"Nobody is on call for {team} now: name a responder.")


class UnknownResponder(Problem):
    def __init__(self, handle: str) -> None:
        super().__init__(422, f"There is no responder {handle!r}.")


class InvalidRotation(Problem):
    def __init__(self, detail: str) -> None:
        super().__init__(422, detail)
