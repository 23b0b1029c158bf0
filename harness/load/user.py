"""The Locust user: each task run is one WebSocket connection attempt, recorded exactly once.

Importing this module imports Locust (and so gevent's monkey-patching): import it
before anything that imports ``ssl``.

A user is stopped by being interrupted, never by polling: :meth:`WebSocketUser.stop`
always kills the user's greenlet (Locust's graceful stop would wait for a held session
to end on its own). The attempt in progress records how far it got (see
:func:`harness.load.client.open_attempt`): an open session as accepted, a handshake cut
short as ``interrupted`` (excluded from every rate).
"""

from __future__ import annotations

import gevent
from locust import User, between, constant, task
from locust.exception import StopUser

import itertools
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Protocol

from harness.config.scenario import Scenario
from harness.config.stages import STEADY, stage_plan
from harness.load.arrivals import ArrivalSchedule
from harness.load.attempt import AttemptInfo, build_record
from harness.load.client import SessionPlan, open_attempt
from harness.load.plan import session_plan
from harness.load.reconnect import Backoff
from harness.load.request import auth_request
from harness.load.result import Result, partial_result
from harness.load.socketio import open_socketio_attempt
from harness.protocol.outcomes import (
    DEFAULT_APP_CLOSE_CODES,
    DEFAULT_HTTP_STATUSES,
    DEFAULT_SOCKETIO,
    SocketIOMeaning,
)
from harness.protocol.tokens import mint, token_exp
from harness.rundir.records import AttemptRecord

#: Seconds an arrival-rate user idles at a time once the plan has no arrival left.
IDLE_S = 1.0


class RecordSink(Protocol):
    """Where finished attempt records go (a run recorder, a worker forwarding to the master)."""

    def add(self, record: AttemptRecord) -> None: ...


@dataclass
class UserConfig:
    """Everything a user needs, set once per run by :func:`make_user_class`."""

    scenario: Scenario
    secret: str
    url: str
    sink: RecordSink
    run_id: str
    worker: str = "local"
    #: labels of the chaos windows that overlap [start, end] (epoch seconds) of an attempt
    faults_between: Callable[[float, float], list[str]] = field(default=lambda a, b: [])
    #: the run's time zero (epoch s): load stages and arrivals count from it (None: no run
    #: timeline, every attempt "steady")
    started_at: float | None = None
    #: this process's place among the processes that share an arrival-rate load, and their
    #: number: (0, 1) for a run in one process
    share: tuple[int, int] = (0, 1)
    #: the load stage of an attempt started at an epoch time (set from load.stages)
    load_stage: Callable[[float], str] = field(default=lambda t: STEADY)
    #: meaning of private close codes 4000-4999 for this target
    app_codes: Mapping[int, str] = field(default_factory=lambda: dict(DEFAULT_APP_CLOSE_CODES))
    #: meaning of the HTTP statuses of a refused upgrade for this target
    http_statuses: Mapping[int, str] = field(default_factory=lambda: dict(DEFAULT_HTTP_STATUSES))
    #: user numbers of this run, from 1
    numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    #: PEM file of the CAs trusted for wss:// (None: the system's)
    ca_file: str | None = None
    #: verify the server's certificate for wss:// (target.tls.insecure turns it off)
    verify_tls: bool = True
    #: what this Socket.IO target's CONNECT_ERROR messages and events mean
    sio: SocketIOMeaning = DEFAULT_SOCKETIO
    #: the token kinds sent and their weights (the mix's kinds with a weight above 0)
    kinds: list[str] = field(init=False)
    weights: list[float] = field(init=False)
    #: the session plan of every user of a plain session (None: a flow or hook, whose
    #: plan is each user's own)
    plan: SessionPlan | None = field(init=False)
    #: the arrivals this process's users serve (None: not an arrival-rate load)
    arrivals: ArrivalSchedule | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        mix = self.scenario.load.mix
        self.kinds = [k for k, w in mix.items() if w > 0]
        self.weights = [mix[k] for k in self.kinds]
        session = self.scenario.load.session
        plain = not session.flow and session.hook is None
        self.plan = session_plan(self.scenario, 0) if plain else None
        stages, t0 = stage_plan(self.scenario.load.stages), self.started_at
        if stages is not None and t0 is not None:
            self.load_stage = lambda t: stages.label_at(t - t0)
            if stages.is_rate:
                self.arrivals = ArrivalSchedule(stages, t0, *self.share)


def scenario_user_config(scenario: Scenario, **run: Any) -> UserConfig:
    """The users' configuration for ``scenario``: what the target's close codes, statuses
    and Socket.IO messages mean and whether its certificate is checked, from the scenario;
    ``run`` are the run's own fields (``secret``, ``url``, ``sink``, ``run_id``, ...)."""
    t = scenario.target
    return UserConfig(
        scenario=scenario,
        app_codes={**DEFAULT_APP_CLOSE_CODES, **t.close_codes},
        http_statuses={**DEFAULT_HTTP_STATUSES, **t.http_statuses},
        verify_tls=not t.tls.insecure,
        sio=SocketIOMeaning.of(t.socketio),
        **run,
    )


@dataclass(frozen=True)
class Step:
    """Where an attempt stands in its session, and the token it carries."""

    session: str  # "<worker>-<user>-<n>"
    seq: int  # 0: the session's first attempt; n: its n-th reconnect
    delay: float | None  # seconds waited before this reconnect
    token_exp: float | None  # the token's exp (epoch s)
    refreshed: bool = False  # the token was minted anew for this reconnect


class WebSocketUser(User):
    """A Locust user that opens WebSockets with a mix of token kinds.

    One task run is one attempt: pick a token kind by the scenario's weights, mint
    the token, connect, run the session, close, write one :class:`AttemptRecord`,
    and fire one Locust ``request`` event (name ``WS <kind>``; a failure when the
    verdict is not ok). In an arrival-rate load (``load.stages`` with ``rate``) each session
    waits for its arrival first (:mod:`harness.load.arrivals`), and users do not wait between
    sessions.
    """

    abstract = True
    #: set by the run lifecycle when a test starts (None: no run, the user stops at once)
    config: ClassVar[UserConfig | None] = None

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        cfg = type(self).config
        if cfg is None:
            self.number, self.attempts, self.sessions, self._kinds = 0, 0, 0, []
            return
        self.run_config = cfg
        self.number = next(cfg.numbers)
        self.attempts = 0
        self.sessions = 0
        # shared by every user of the run: each held connection costs only what is its own
        self._kinds, self._weights = cfg.kinds, cfg.weights
        self._plan = cfg.plan or session_plan(cfg.scenario, self.number)
        sources = cfg.scenario.load.source_addresses
        self._source = sources[(self.number - 1) % len(sources)] if sources else None

    def stop(self, force: bool = False) -> bool:
        """Stop by interrupting: the greenlet is killed at once, whatever ``force`` says."""
        return bool(super().stop(force=True))

    @task
    def connect_once(self) -> None:
        """One session: its first attempt and the reconnects its policy makes (two sessions
        for ``expired_reused``: while valid, then stale)."""
        if not self._kinds:
            raise StopUser  # no run configured this user (its set-up failed)
        arrivals = self.run_config.arrivals
        if arrivals is not None and not arrivals.wait_turn():
            gevent.sleep(IDLE_S)  # the plan has no arrival left: idle until the run stops
            return
        kind = random.choices(self._kinds, self._weights)[0]
        token = self._mint(kind)
        if kind == "expired_reused":
            assert token is not None
            self._session("valid", token)
            exp = token_exp(token) or time.time()
            # a JWT is expired once now > exp (RFC 7519 section 4.1.4; no leeway)
            gevent.sleep(max(0.0, exp + 1.05 - time.time()))
        self._session(kind, token)

    def _session(self, kind: str, token: str | None) -> None:
        """Attempts with one token until the session ends (:mod:`harness.load.reconnect`)."""
        cfg = self.run_config
        self.sessions += 1
        session = f"{cfg.worker}-{self.number}-{self.sessions}"
        policy = cfg.scenario.load.reconnect
        backoff = Backoff(policy)
        # the token's exp decides what a reconnect sends; without reconnects it is not read
        exp = token_exp(token) if policy.enabled else None
        step = Step(session, 0, None, exp)
        while True:
            rec = self._attempt(kind, token, step)
            delay = backoff.next_delay(rec)
            if delay is None:
                return
            gevent.sleep(delay)  # interruptible: the run's stop kills the greenlet here
            step = Step(session, step.seq + 1, delay, step.token_exp)
            if kind == "valid" and step.token_exp is not None and time.time() > step.token_exp:
                if policy.refresh:  # a new token, as a front end refreshes before it retries
                    token = self._mint("valid")
                    step = replace(step, token_exp=token_exp(token), refreshed=True)
                else:  # the stale token again: a correct service refuses it
                    kind = "expired_reused"

    def _mint(self, kind: str) -> str | None:
        cfg = self.run_config
        return mint(
            kind, cfg.scenario.auth, cfg.secret, user=self.number, attempt=self.attempts + 1
        )

    def _attempt(self, kind: str, token: str | None, where: Step) -> AttemptRecord:
        """One connection attempt, recorded; its record is returned."""
        cfg = self.run_config
        timeouts, target = cfg.scenario.load.timeouts, cfg.scenario.target
        self.attempts += 1
        req = auth_request(
            cfg.url,
            cfg.scenario.auth,
            token,
            connect_timeout=timeouts.connect,
            handshake_timeout=timeouts.handshake,
            verify_tls=cfg.verify_tls,
            ca_file=cfg.ca_file,
            source_address=self._source,
        )
        t_start = time.time()
        stage = cfg.load_stage(t_start)
        try:
            if target.protocol == "socketio":
                res = open_socketio_attempt(req, self._plan, target.socketio)
            else:
                res = open_attempt(req, self._plan)
        except BaseException as exc:  # interrupted by the run's stop: record, then go on
            partial = partial_result(exc)
            if partial is not None:
                t_end = time.time()
                chaos = cfg.faults_between(t_start, t_end)
                self._record(kind, token, (t_start, t_end), partial, chaos, stage, where)
            raise
        # every fault the attempt lived through, not only those active when it began: a
        # connection opened just before a restart is ended by it
        t_end = time.time()
        chaos = cfg.faults_between(t_start, t_end)
        return self._record(kind, token, (t_start, t_end), res, chaos, stage, where)

    def _record(
        self,
        kind: str,
        token: str | None,
        span: tuple[float, float],
        res: Result,
        chaos: list[str],
        stage: str,
        where: Step,
    ) -> AttemptRecord:
        cfg = self.run_config
        info = AttemptInfo(
            run_id=cfg.run_id,
            worker=cfg.worker,
            user=self.number,
            attempt=self.attempts,
            token_kind=kind,
            placement=cfg.scenario.auth.placement,
            token_sent=token is not None,
            t_start=span[0],
            chaos=tuple(chaos),
            load_stage=stage,
            session=where.session,
            session_attempt=where.seq,
            reconnect_delay_s=where.delay,
            t_end=span[1],
            token_exp=where.token_exp,
            token_refreshed=where.refreshed,
        )
        rec, outcome = build_record(info, res, cfg.app_codes, cfg.http_statuses, cfg.sio)
        cfg.sink.add(rec)
        if rec.verdict == "excluded":
            return rec
        self.environment.events.request.fire(
            request_type="WS",
            name=kind,
            response_time=res.handshake_ms,  # None: not counted in percentiles
            response_length=res.msgs_recv,
            exception=None if rec.verdict == "ok" else RuntimeError(f"{rec.verdict}: {outcome}"),
            context={"token_kind": kind, "outcome": outcome.value},
        )
        return rec


def configure_users(user_classes: Iterable[type[Any]], config: UserConfig | None) -> None:
    """Give every harness user class among ``user_classes`` this run's configuration
    (None: no run; users stop at once) and the scenario's wait between attempts."""
    for cls in user_classes:
        if isinstance(cls, type) and issubclass(cls, WebSocketUser):
            cls.config = config
            if config is not None and config.arrivals is not None:
                cls.wait_time = constant(0)  # the arrivals pace the sessions
            elif config is not None:
                s = config.scenario.load.session
                cls.wait_time = between(s.wait_min, s.wait_max)


class ScenarioUser(WebSocketUser):
    """The scenario's user, the one every route runs (``harness run``, the locustfile)."""

    abstract = False
    wait_time = between(0.1, 0.5)
