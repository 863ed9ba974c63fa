"""The local web app (``rewardsmith ui``): browse runs, watch rollout videos, review paused rounds.

FastAPI with server-rendered pages (jinja2, autoescaped) and no JavaScript: runs list, run (rounds
timeline, fitness per round, cost so far), round (candidate cards with video, fitness, component
bars, flags, code, and the review form while the round is paused), candidate (highlighted code, diff
against its parent, training curves per component, critique). Submitting the form writes the
round's ``human.json`` through :func:`agent.review.gate.submit_feedback`; a run waiting with
``--review web`` picks it up and continues, a stopped one continues on ``rewardsmith resume``.
"""
