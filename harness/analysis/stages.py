"""Load stages of a run (pure): each stage of ``load.stages`` as planned, and the attempts
that started in it (their ``load_stage``, the label the load generator gave them from their
start time: :class:`harness.config.stages.StagePlan`)."""

from __future__ import annotations

from harness.analysis.run import Run
from harness.analysis.sections import section, section_view
from harness.analysis.summary import StageStats


def compute_stages(run: Run) -> tuple[StageStats, ...]:
    """Every stage of the run, in time order; empty for a constant load.

    ``attempts_per_s`` divides a stage's attempts by the part of it that ran (a run cut short
    ends its stage early); None for a stage that had not begun.
    """
    plan = run.stages
    if plan is None:
        return ()
    view = section_view(run.attempts)
    labels = run.attempts["load_stage"].astype("string").fillna("").to_numpy()
    ran_s = run.duration_s if run.duration_s is not None else plan.duration_s
    out = []
    for span in plan.spans:
        rows = view[labels == span.name]
        st = span.stage
        length = min(span.end_s, ran_s) - span.start_s
        out.append(
            StageStats(
                name=span.name,
                start_s=span.start_s,
                end_s=span.end_s,
                users=st.users,
                rate=st.rate,
                max_users=st.max_users,
                spawn_rate=st.spawn_rate,
                attempts_per_s=len(rows) / length if length > 0 else None,
                total=section(rows),
            )
        )
    return tuple(out)
