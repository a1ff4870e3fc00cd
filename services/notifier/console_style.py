"""The responder console's stylesheet: readable at 3 a.m., at 1280x800 and on a phone."""

# Bands carry their name as text (SEV1...) as well as a colour, so they read without colour.
CONSOLE_STYLE = """
:root { --fg: #1d1d1f; --muted: #555; --line: #d0d0d5; --focus: #0b57d0; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: var(--fg); background: #f7f7f9; }
a { color: #0b57d0; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.skip { position: absolute; left: -999px; } .skip:focus { left: .5rem; top: .5rem; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; }
.top { display: flex; flex-wrap: wrap; gap: .5rem 1.25rem; align-items: center;
  padding: .5rem 1rem; background: #1d1d1f; color: #fff; }
.top h1 { font-size: 1.2rem; margin: 0; } .top a { color: #fff; }
.top nav a { margin-right: .75rem; } .top p { margin: 0; }
#who { margin-left: auto; }
main { padding: 1rem; max-width: 1400px; margin: 0 auto; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 1rem;
  margin-bottom: 1rem; }
#sign-in { max-width: 32rem; } #sign-in input { width: 100%; margin: .25rem 0 .75rem; }
input, select, button, textarea { font: inherit; padding: .35rem .55rem; min-height: 2.25rem; }
button { cursor: pointer; border: 1px solid #444; border-radius: 4px; background: #fff; }
button.primary { background: #0b57d0; color: #fff; border-color: #0b57d0; }
.filters { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: end; margin: .5rem 0; }
.filters label { display: flex; flex-direction: column; font-size: .85rem; color: var(--muted); }
.live { padding: .1rem .5rem; border-radius: 3px; font-weight: 600; }
.live.on { background: #1e7b34; } .live.off { background: #b3261e; }
.live.off::before { content: "\\26A0  "; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: .45rem .55rem; border-bottom: 1px solid var(--line);
  vertical-align: top; }
thead th { background: #eceef2; font-size: .85rem; }
.band { display: inline-block; min-width: 3.6rem; text-align: center; font-weight: 700;
  padding: .1rem .35rem; border-radius: 3px; border: 2px solid; }
.band.SEV1 { background: #b3261e; color: #fff; border-color: #7a1a14; }
.band.SEV2 { background: #e8710a; color: #000; border-color: #9c4a00; }
.band.SEV3 { background: #fbe26b; color: #000; border-color: #a38c00; }
.band.SEV4 { background: #e3e7ee; color: #000; border-color: #7d8594; }
.sla { font-variant-numeric: tabular-nums; white-space: nowrap; }
.sla.warning { background: #ffd27a; font-weight: 600; }
.sla.breached { background: #b3261e; color: #fff; font-weight: 700; }
.sla.warning::before { content: "\\25B2  "; } .sla.breached::before { content: "\\2716  "; }
tr.fresh { animation: fresh 3s ease-out; }
@keyframes fresh { from { background: #fff7c2; } to { background: transparent; } }
.warning-box { background: #fff4e5; border: 2px solid #e8710a; padding: .75rem;
  border-radius: 4px; margin-bottom: 1rem; }
figure { margin: 0; }
.tag { font-size: .8rem; border: 1px solid var(--line); border-radius: 3px; padding: 0 .3rem; }
td.heat { text-align: center; min-width: 2.2rem; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 700; padding-bottom: .5rem; }
#series .card { margin-top: 1rem; }
#evidence { margin: 0; padding-left: 1.2rem; overflow-wrap: anywhere; }
.problem { background: #fdecea; border: 1px solid #b3261e; padding: .5rem .75rem;
  border-radius: 4px; margin: .5rem 0; }
.ok { background: #e6f4ea; border: 1px solid #1e7b34; padding: .5rem .75rem; border-radius: 4px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 1rem; }
.actions form { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end;
  margin-bottom: .75rem; }
.actions label { display: flex; flex-direction: column; font-size: .85rem; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); gap: 1rem; }
.bar-row { display: grid; grid-template-columns: 9rem 1fr 3.5rem; gap: .5rem;
  align-items: center; margin: .2rem 0; }
.bar { height: 1.1rem; background: #0b57d0; min-width: 2px; }
.bar-row .value { text-align: right; font-variant-numeric: tabular-nums; }
@media (max-width: 700px) {
  main { padding: .5rem; }
  #queue thead { display: none; }
  #queue tr { display: block; border-bottom: 2px solid var(--line); padding: .35rem 0; }
  #queue td { display: flex; gap: .5rem; border: 0; padding: .15rem .5rem; }
  #queue td::before { content: attr(data-label); min-width: 6.5rem; color: var(--muted); }
  .bar-row { grid-template-columns: 6rem 1fr 3rem; }
}
"""
