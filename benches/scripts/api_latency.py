#!/usr/bin/env python3
"""API latency of `ceems-lake serve` against the original CEEMS server's SQL on SQLite.

Both sides hold the same units: a CEEMS-format SQLite file made by `ceems-lake generate
--ceems-sqlite` and the store imported from it. For each endpoint the script times N HTTP
requests to a `ceems-lake serve` it starts itself (keep-alive connection, uncompressed answers),
then runs the same logical query against the SQLite file with the SQL the original server runs
(behaviour document §1.5, §2, §5.2), in process with Python's sqlite3, and prints p50/p99.

The SQLite side works on a copy of the database (`--baseline-db`) prepared once:
- the original's third index on `units` (`idx_cluster_id_project_user_ended`), absent from
  files at schema version 5, is created;
- the `usage` table, which the original fills at ingest and which `/usage/global` reads, is
  filled from `units`: one row per (cluster, user, project) with the unit count, per-key sums
  of the `total_*` maps and per-key weighted averages of the `avg_*` maps.

Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable
from zoneinfo import ZoneInfo

METRIC_COLUMNS = [
    "total_time_seconds",
    "avg_cpu_usage",
    "avg_cpu_mem_usage",
    "total_cpu_energy_usage_kwh",
    "total_cpu_emissions_gms",
    "avg_gpu_usage",
    "avg_gpu_mem_usage",
    "total_gpu_energy_usage_kwh",
    "total_gpu_emissions_gms",
    "total_io_write_stats",
    "total_io_read_stats",
    "total_ingress_stats",
    "total_outgress_stats",
]
# Weight key (in total_time_seconds) of each average column.
WEIGHTS = {
    "avg_cpu_usage": "alloc_cputime",
    "avg_cpu_mem_usage": "alloc_cpumemtime",
    "avg_gpu_usage": "alloc_gputime",
    "avg_gpu_mem_usage": "alloc_gpumemtime",
}
UNIT_COLUMNS = (
    "cluster_id, resource_manager, uuid, name, project, groupname, username, created_at, "
    "started_at, ended_at, created_at_ts, started_at_ts, ended_at_ts, elapsed, state, "
    "allocation, " + ", ".join(METRIC_COLUMNS) + ", tags"
)
USAGE_IDENTITY = "cluster_id, resource_manager, num_units, project, groupname, username"
# Keys are spliced into SQL as the original does; only plain identifiers are accepted here.
SAFE_KEY = re.compile(r"^[A-Za-z0-9_]+$")
DAY = 86_400


# ---------------------------------------------------------------------------------------------
# Baseline database
# ---------------------------------------------------------------------------------------------


def go_number(v: float):
    """How the original's Go marshaller writes a metric value: integral → integer, else 8
    decimals."""
    if not math.isfinite(v):
        return 0
    if v == int(v):
        return int(v)
    return float(f"{v:.8f}")


def load_map(text):
    if text is None:
        return None
    m = json.loads(text)
    return m if isinstance(m, dict) else None


def fill_usage(con: sqlite3.Connection) -> int:
    """Fills `usage` from `units` as the ingest would have accumulated it."""
    groups: dict[tuple, dict] = {}
    cur = con.execute(
        "SELECT cluster_id, username, project, resource_manager, groupname, last_updated_at, "
        + ", ".join(METRIC_COLUMNS)
        + " FROM units"
    )
    for row in cur:
        key = row[0:3]
        g = groups.get(key)
        if g is None:
            g = groups[key] = {
                "rm": row[3],
                "group": row[4],
                "last": row[5],
                "n": 0,
                "sums": {c: {} for c in METRIC_COLUMNS if c.startswith("total")},
                "num": {c: {} for c in WEIGHTS},
                "den": {c: {} for c in WEIGHTS},
            }
        g["n"] += 1
        if row[5] and (g["last"] is None or row[5] > g["last"]):
            g["last"] = row[5]
        maps = {c: load_map(row[6 + i]) for i, c in enumerate(METRIC_COLUMNS)}
        tts = maps["total_time_seconds"] or {}
        for c, m in maps.items():
            if not m:
                continue
            if c in WEIGHTS:
                w = tts.get(WEIGHTS[c])
                if not isinstance(w, (int, float)):
                    continue
                for k, v in m.items():
                    if isinstance(v, (int, float)):
                        g["num"][c][k] = g["num"][c].get(k, 0.0) + v * w
                        g["den"][c][k] = g["den"][c].get(k, 0.0) + w
            else:
                s = g["sums"][c]
                for k, v in m.items():
                    if isinstance(v, (int, float)):
                        s[k] = s.get(k, 0) + v
    rows = []
    for (cluster, user, project), g in groups.items():
        values = []
        for c in METRIC_COLUMNS:
            if c in WEIGHTS:
                m = {
                    k: go_number(n / g["den"][c][k] if g["den"][c][k] > 0 else 0.0)
                    for k, n in g["num"][c].items()
                }
            else:
                m = {k: go_number(v) for k, v in g["sums"][c].items()}
            values.append(json.dumps(dict(sorted(m.items())), separators=(",", ":")))
        rows.append(
            (g["rm"], cluster, g["n"], project, user, g["group"], *values, g["n"], g["last"])
        )
    con.execute("DELETE FROM usage")
    con.executemany(
        "INSERT INTO usage (resource_manager, cluster_id, num_units, project, username, "
        "groupname, "
        + ", ".join(METRIC_COLUMNS)
        + ", num_updates, last_updated_at) VALUES ("
        + ", ".join("?" * (6 + len(METRIC_COLUMNS) + 2))
        + ")",
        rows,
    )
    return len(rows)


def prepare_baseline(source: str, target: str) -> None:
    if os.path.exists(target):
        return
    print(f"preparing {target} from {source} (copy, index, usage table) ...", flush=True)
    t0 = time.perf_counter()
    tmp = target + ".partial"
    shutil.copyfile(source, tmp)
    con = sqlite3.connect(tmp)
    con.execute(
        "CREATE INDEX IF NOT EXISTS idx_cluster_id_project_user_ended "
        "ON units (cluster_id,project,username,ended_at)"
    )
    n = fill_usage(con)
    con.commit()
    con.close()
    os.replace(tmp, target)
    print(f"  {n} usage rows, {time.perf_counter() - t0:.1f} s", flush=True)


# ---------------------------------------------------------------------------------------------
# The original's SQL
# ---------------------------------------------------------------------------------------------


class Original:
    """The queries of the original server, one method per endpoint; each returns the rows."""

    def __init__(self, path: str, zone: str):
        # Read-only, as the original's API server opens its database.
        self.con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self.zone = ZoneInfo(zone)

    def text_time(self, s: int) -> str:
        """A window bound as the original formats it: local wall clock, no offset."""
        return datetime.fromtimestamp(s, self.zone).strftime("%Y-%m-%dT%H:%M:%S")

    @staticmethod
    def projects_of(users: list[str] | None) -> tuple[str, list[str]]:
        inner = "SELECT 1 FROM json_each(users)"
        if users:
            inner += " WHERE value IN (" + ",".join("?" * len(users)) + ")"
        return f"SELECT name FROM projects WHERE EXISTS ({inner})", list(users or [])

    def rows(self, sql: str, params) -> list:
        return self.con.execute(sql, params).fetchall()

    def units(self, users, clusters, frm, to):
        sql = f"SELECT {UNIT_COLUMNS} FROM units WHERE ignore = 0"
        params: list = []
        if users:
            sql += " AND username IN (" + ",".join("?" * len(users)) + ")"
            params += users
        if clusters:
            sql += " AND cluster_id IN (" + ",".join("?" * len(clusters)) + ")"
            params += clusters
        sql += " AND ended_at BETWEEN ? AND ? ORDER BY cluster_id ASC, uuid ASC"
        params += [self.text_time(frm), self.text_time(to)]
        return self.rows(sql, params)

    def verify(self, user, clusters, uuids, times_ms):
        sub, sub_params = self.projects_of([user])
        sql = (
            f"SELECT uuid FROM units WHERE project IN ({sub})"
            " AND cluster_id IN (" + ",".join("?" * len(clusters)) + ")"
            " AND uuid IN (" + ",".join("?" * len(uuids)) + ")"
            " AND started_at_ts BETWEEN ? AND ?"
        )
        params = sub_params + clusters + uuids + [min(times_ms) - 3_600_000, max(times_ms) + 3_600_000]
        rows = self.rows(sql, params)
        if len(rows) != len(uuids):
            raise RuntimeError(f"verify baseline: {len(rows)} rows for {len(uuids)} uuids")
        return rows

    def users(self, names):
        sql = "SELECT uid, cluster_id, resource_manager, name, projects, tags FROM users"
        if names:
            sql += " WHERE name IN (" + ",".join("?" * len(names)) + ")"
        else:
            sql += " WHERE name LIKE '%'"
        return self.rows(sql + " ORDER BY cluster_id ASC, name ASC", names or [])

    def projects(self, user):
        sub, params = self.projects_of([user] if user else None)
        sql = (
            "SELECT uid, cluster_id, resource_manager, name, users, tags FROM projects "
            f"WHERE name IN ({sub}) ORDER BY cluster_id ASC, name ASC"
        )
        return self.rows(sql, params)

    def clusters(self):
        return self.rows(
            "SELECT DISTINCT cluster_id, resource_manager FROM units ORDER BY cluster_id", []
        )

    def usage_current(self, users, frm, to, window=True, sum_fn="SUM"):
        """§5.2: key discovery per metric column, then one grouped query building the maps.
        `window=False` aggregates every unit (what `/usage/global` costs when computed from
        units, as ceems-lake does). `sum_fn="TOTAL"` sums as floats where SUM's integer
        arithmetic overflows."""
        frm, to = math.floor(frm / 900) * 900, math.ceil(to / 900) * 900
        where, wparams = "", []
        if window:
            where = " WHERE units.last_updated_at BETWEEN ? AND ?"
            wparams = [self.text_time(frm), self.text_time(to)]
        keys = {}
        # The original runs these concurrently (one goroutine per column); here they run in turn.
        for c in METRIC_COLUMNS:
            ks = [
                r[0]
                for r in self.rows(
                    f"SELECT DISTINCT json_each.key FROM units, json_each(units.{c}){where}",
                    wparams,
                )
                if r[0] is not None
            ]
            for k in ks:
                if not SAFE_KEY.match(k):
                    raise RuntimeError(f"unsafe metric key {k!r}")
            keys[c] = sorted(ks)
        if not any(keys.values()):
            return []
        cols = []
        for c in METRIC_COLUMNS:
            parts = []
            for k in keys[c]:
                v = f"json_extract({c}, '$.{k}')"
                if c in WEIGHTS:
                    w = f"json_extract(total_time_seconds, '$.{WEIGHTS[c]}')"
                    parts.append(f"'{k}', {sum_fn}({v} * {w}) / {sum_fn}({w})")
                else:
                    parts.append(f"'{k}', {sum_fn}({v})")
            cols.append(f"json_object({', '.join(parts)}) AS {c}")
        sub, sub_params = self.projects_of(users)
        sql = (
            "SELECT cluster_id, resource_manager, COUNT(id) AS num_units, project, groupname, "
            f"username, {', '.join(cols)} FROM units WHERE project IN ({sub})"
        )
        params = sub_params
        if window:
            sql += " AND last_updated_at BETWEEN ? AND ?"
            params = params + wparams
        sql += " GROUP BY username, project ORDER BY cluster_id, username, project"
        return self.rows(sql, params)

    def usage_global(self, users):
        sub, params = self.projects_of(users)
        sql = (
            f"SELECT {USAGE_IDENTITY}, {', '.join(METRIC_COLUMNS)} FROM usage "
            f"WHERE project IN ({sub}) ORDER BY cluster_id, username, project"
        )
        return self.rows(sql, params)

    def stats(self, frm=None, to=None):
        sql = (
            "SELECT cluster_id, resource_manager, COUNT(id) AS num_units, "
            "SUM(CASE WHEN ended_at_ts > 0 THEN 1 ELSE 0 END) AS num_inactive_units, "
            "SUM(CASE WHEN ended_at_ts = 0 THEN 1 ELSE 0 END) AS num_active_units, "
            "COUNT(DISTINCT project) AS num_projects, COUNT(DISTINCT username) AS num_users "
            "FROM units"
        )
        params: list = []
        if frm is not None:
            sql += " WHERE (ended_at BETWEEN ? AND ? OR ended_at_ts = 0)"
            params = [self.text_time(frm), self.text_time(to)]
        return self.rows(sql + " GROUP BY cluster_id ORDER BY cluster_id", params)


# ---------------------------------------------------------------------------------------------
# ceems-lake over HTTP
# ---------------------------------------------------------------------------------------------


class Lake:
    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def get(self, path: str, params: list[tuple[str, str]], user: str):
        url = "/api/v1" + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = {
            "X-Grafana-User": user,
            "User-Agent": "ceems-lake-api-latency",
            "Accept-Encoding": "identity",
        }
        t0 = time.perf_counter()
        try:
            self.conn.request("GET", url, headers=headers)
            r = self.conn.getresponse()
        except (http.client.HTTPException, OSError):
            # The server closed an idle keep-alive connection: reconnect once.
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
            t0 = time.perf_counter()
            self.conn.request("GET", url, headers=headers)
            r = self.conn.getresponse()
        body = r.read()
        elapsed_ms = (time.perf_counter() - t0) * 1000
        if r.status != 200:
            raise RuntimeError(f"GET {url} as {user}: {r.status} {body[:300]!r}")
        return body, r.getheader("Expires"), elapsed_ms


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(binary: str, store: str, zone: str, admin: str, log_path: str):
    cfg = tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False)
    cfg.write(
        "ceems_api_server:\n"
        f"  data:\n    time_zone: {zone}\n"
        f"  admin:\n    users:\n      - {admin}\n"
    )
    cfg.close()
    port = free_port()
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [
            binary,
            "--data",
            store,
            "--log.level",
            "warn",
            "serve",
            "--config.file",
            cfg.name,
            "--web.listen-address",
            f"127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ceems-lake serve exited with {proc.returncode}; see {log_path}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return proc, port, cfg.name
        except OSError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("ceems-lake serve did not become healthy in 120 s")


# ---------------------------------------------------------------------------------------------
# Measurement
# ---------------------------------------------------------------------------------------------


@dataclass
class Result:
    n: int = 0
    p50: float = float("nan")
    p99: float = float("nan")
    rows: int | None = None
    size: int | None = None


@dataclass
class Case:
    name: str
    lake: Callable[[int], tuple[int | None, int]] | None
    sqlite: Callable[[], list] | None
    note: str = ""
    results: dict = field(default_factory=dict)


def percentile(samples: list[float], q: int) -> float:
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def measure(run: Callable[[int], tuple[float, object]], n: int, warmup: int, budget: float):
    """Runs `run(i)` `warmup` times (results dropped) then up to `n` times, stopping early (with
    at least 3 samples) once `budget` seconds are spent. `run` returns (milliseconds, answer):
    each side times only its own work. Returns the samples (ms) and the last answer."""
    out = None
    for i in range(warmup):
        ms, out = run(-1 - i)
        if ms > budget * 100:  # one warm-up over a tenth of the budget is enough
            break
    samples = []
    start = time.perf_counter()
    for i in range(n):
        ms, out = run(i)
        samples.append(ms)
        if time.perf_counter() - start > budget and len(samples) >= 3:
            break
    return samples, out


def timed(query: Callable[[], list]) -> tuple[float, list]:
    """Runs one SQLite query (execute and fetch every row), in milliseconds."""
    t0 = time.perf_counter()
    rows = query()
    return (time.perf_counter() - t0) * 1000, rows


def summarize(samples, rows, size) -> Result:
    return Result(len(samples), statistics.median(samples), percentile(samples, 99), rows, size)


def fmt_ms(v: float) -> str:
    if math.isnan(v):
        return "—"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def fmt_size(b: int | None) -> str:
    if b is None:
        return "—"
    if b >= 1 << 20:
        return f"{b / (1 << 20):.1f} MiB"
    if b >= 1 << 10:
        return f"{b / (1 << 10):.1f} KiB"
    return f"{b} B"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bin", required=True, help="ceems-lake binary (release build)")
    ap.add_argument("--store", required=True, help="store imported from --sqlite")
    ap.add_argument("--sqlite", required=True, help="CEEMS SQLite file the store was imported from")
    ap.add_argument("--baseline-db", help="prepared copy for the SQLite side (default: <sqlite>-baseline.db)")
    ap.add_argument("--time-zone", default="Europe/Paris", help="data time zone of both sides")
    ap.add_argument("--user", help="the non-admin user (default: the user with most units)")
    ap.add_argument("--admin", default="bench-admin", help="admin name put in the server config")
    ap.add_argument("--cluster", help="cluster of /units/admin (default: the one with most units)")
    ap.add_argument("-n", type=int, default=30, help="timed requests per endpoint and side")
    ap.add_argument("--warmup", type=int, default=2, help="untimed requests before timing")
    ap.add_argument("--budget", type=float, default=60.0, help="seconds per endpoint and side before stopping early")
    ap.add_argument("--server-log", default=os.path.join(tempfile.gettempdir(), "ceems-lake-api-latency.log"))
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--only", help="run only the endpoints whose name matches this regular expression")
    ap.add_argument("--no-sqlite", action="store_true", help="time ceems-lake only")
    args = ap.parse_args()

    baseline_path = args.baseline_db or re.sub(r"\.db$", "", args.sqlite) + "-baseline.db"
    prepare_baseline(args.sqlite, baseline_path)
    orig = Original(baseline_path, args.time_zone)
    zone = ZoneInfo(args.time_zone)

    # The newest ingest cycle of the data is the "now" of every window.
    last = orig.rows("SELECT MAX(last_updated_at) FROM units", [])[0][0]
    end = int(datetime.strptime(last, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=zone).timestamp())
    user = args.user or orig.rows(
        "SELECT username FROM units GROUP BY 1 ORDER BY COUNT(*) DESC LIMIT 1", []
    )[0][0]
    cluster = args.cluster or orig.rows(
        "SELECT cluster_id FROM units GROUP BY 1 ORDER BY COUNT(*) DESC LIMIT 1", []
    )[0][0]
    # Three of the user's ended units of the last 30 days, in projects that list the user.
    sub, sub_params = Original.projects_of([user])
    picks = orig.rows(
        f"SELECT cluster_id, uuid, started_at_ts FROM units WHERE username = ? AND project IN ({sub}) "
        "AND ended_at_ts BETWEEN ? AND ? ORDER BY started_at_ts DESC LIMIT 3",
        [user] + sub_params + [(end - 30 * DAY) * 1000, end * 1000],
    )
    vcluster = picks[0][0]
    picks = [p for p in picks if p[0] == vcluster]
    vuuids = [p[1] for p in picks]
    vtimes = [p[2] for p in picks]

    proc, port, cfg = start_server(args.bin, args.store, args.time_zone, args.admin, args.server_log)
    lake = Lake(port)
    admin = args.admin

    def http_case(path, params, as_user, bust=False, expect_cached=False):
        """A request function for `measure`; `bust` adds a parameter that only changes the
        usage cache key (the original keys its cache on every parameter, and so does
        ceems-lake)."""

        def run(i):
            p = list(params) + ([("nocache", str(i))] if bust else [])
            body, expires, ms = lake.get(path, p, as_user)
            if expect_cached and i >= 0 and expires is None:
                raise RuntimeError(f"{path}: expected a cache hit")
            if bust and expires is not None:
                raise RuntimeError(f"{path}: unexpected cache hit")
            # Decoding the answer is the client's work: it is checked, not timed.
            data = json.loads(body)["data"]
            return ms, (len(data) if isinstance(data, list) else None, len(body))

        return run

    def window(days):
        return [("from", str(end - days * DAY)), ("to", str(end))]

    overflowed: set[str] = set()

    def summing(name, query):
        """The original's SQL with SUM; if SQLite's integer SUM overflows (the original would
        answer 500), the case goes on with TOTAL (float sums, same scan) and is marked."""
        state = {"fn": "SUM"}

        def run():
            try:
                return query(state["fn"])
            except sqlite3.OperationalError as e:
                if "integer overflow" not in str(e) or state["fn"] != "SUM":
                    raise
                state["fn"] = "TOTAL"
                overflowed.add(name)
                return query("TOTAL")

        return run

    cases: list[Case] = [
        Case(
            "/units (user, 30 d)",
            http_case("/units", window(30), user),
            lambda: orig.units([user], None, end - 30 * DAY, end),
        ),
        Case(
            "/units/admin (cluster, 1 d)",
            http_case("/units/admin", [("cluster_id", cluster)] + window(1), admin),
            lambda: orig.units(None, [cluster], end - DAY, end),
        ),
        Case(
            "/units/admin (cluster, 7 d)",
            http_case("/units/admin", [("cluster_id", cluster)] + window(7), admin),
            lambda: orig.units(None, [cluster], end - 7 * DAY, end),
        ),
        Case(
            f"/units/verify ({len(vuuids)} uuids)",
            http_case(
                "/units/verify",
                [("cluster_id", vcluster)]
                + [("uuid", u) for u in vuuids]
                + [("time", str(t)) for t in vtimes],
                user,
            ),
            lambda: orig.verify(user, [vcluster], vuuids, vtimes),
        ),
        Case("/users", http_case("/users", [], user), lambda: orig.users([user])),
        Case("/users/admin", http_case("/users/admin", [], admin), lambda: orig.users(None)),
        Case("/projects", http_case("/projects", [], user), lambda: orig.projects(user)),
        Case("/projects/admin", http_case("/projects/admin", [], admin), lambda: orig.projects(None)),
        Case("/clusters/admin", http_case("/clusters/admin", [], admin), orig.clusters),
    ]
    for label, days in (("1 d", 1), ("30 d", 30), ("1 y", 365)):
        name = f"/usage/current (user, {label})"
        cases.append(
            Case(
                name,
                http_case("/usage/current", window(days), user, bust=True),
                summing(name, lambda f, d=days: orig.usage_current([user], end - d * DAY, end, sum_fn=f)),
            )
        )
    for label, days in (("1 d", 1), ("30 d", 30), ("1 y", 365)):
        name = f"/usage/current/admin ({label})"
        cases.append(
            Case(
                name,
                http_case("/usage/current/admin", window(days), admin, bust=True),
                summing(name, lambda f, d=days: orig.usage_current(None, end - d * DAY, end, sum_fn=f)),
            )
        )
    cases += [
        Case(
            "/usage/current (user, 30 d, cache hit)",
            http_case("/usage/current", window(30), user, expect_cached=True),
            None,
            "ceems-lake's usage cache; the original has one too",
        ),
        Case(
            "/usage/current/admin (30 d, cache hit)",
            http_case("/usage/current/admin", window(30), admin, expect_cached=True),
            None,
            "ceems-lake's usage cache; the original has one too",
        ),
        Case(
            "/usage/global (user)",
            http_case("/usage/global", [], user, bust=True),
            lambda: orig.usage_global([user]),
            "SQLite reads the pre-aggregated usage table",
        ),
        Case(
            "/usage/global/admin",
            http_case("/usage/global/admin", [], admin, bust=True),
            lambda: orig.usage_global(None),
            "SQLite reads the pre-aggregated usage table",
        ),
        Case(
            "/usage/global (user), SQLite aggregating units",
            None,
            summing("/usage/global (user), SQLite aggregating units", lambda f: orig.usage_current([user], 0, 0, window=False, sum_fn=f)),
            "the original's current-mode SQL over every unit",
        ),
        Case(
            "/usage/global/admin, SQLite aggregating units",
            None,
            summing("/usage/global/admin, SQLite aggregating units", lambda f: orig.usage_current(None, 0, 0, window=False, sum_fn=f)),
            "the original's current-mode SQL over every unit",
        ),
        Case(
            "/stats/current/admin (30 d)",
            http_case("/stats/current/admin", window(30), admin),
            lambda: orig.stats(end - 30 * DAY, end),
        ),
        Case("/stats/global/admin", http_case("/stats/global/admin", [], admin), orig.stats),
    ]

    print(
        f"user {user}, admin {admin}, cluster {cluster}, verify {vcluster} {vuuids}, "
        f"windows end at {end} ({last} {args.time_zone})",
        flush=True,
    )
    if args.only:
        cases = [c for c in cases if re.search(args.only, c.name)]
    if args.no_sqlite:
        for c in cases:
            c.sqlite = None
        cases = [c for c in cases if c.lake]
    try:
        for c in cases:
            if c.lake:
                samples, (rows, size) = measure(c.lake, args.n, args.warmup, args.budget)
                c.results["lake"] = summarize(samples, rows, size)
            if c.sqlite:
                samples, out = measure(lambda _i: timed(c.sqlite), args.n, max(args.warmup, 1), args.budget)
                c.results["sqlite"] = summarize(samples, len(out), None)
            line = [c.name]
            for side in ("lake", "sqlite"):
                r = c.results.get(side)
                line.append(f"{side} " + (f"p50 {fmt_ms(r.p50)} ms n={r.n} rows={r.rows}" if r else "—"))
            print("  " + " | ".join(line), flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        os.unlink(cfg)

    print()
    print(
        "| endpoint | ceems-lake p50 / p99 ms | rows | response | SQLite p50 / p99 ms | rows "
        "| p50 ratio SQLite/lake | n (lake, SQLite) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for c in cases:
        lk, sq = c.results.get("lake"), c.results.get("sqlite")
        ratio = f"{sq.p50 / lk.p50:.1f}×" if lk and sq else "—"
        print(
            f"| {c.name} "
            f"| {fmt_ms(lk.p50) + ' / ' + fmt_ms(lk.p99) if lk else '—'} "
            f"| {lk.rows if lk and lk.rows is not None else '—'} "
            f"| {fmt_size(lk.size) if lk else '—'} "
            f"| {fmt_ms(sq.p50) + ' / ' + fmt_ms(sq.p99) if sq else '—'} "
            f"| {sq.rows if sq else '—'} "
            f"| {ratio} "
            f"| {lk.n if lk else '—'}, {sq.n if sq else '—'} |"
        )
    print()
    for c in cases:
        if c.note:
            print(f"- {c.name}: {c.note}")
    for name in sorted(overflowed):
        print(f"- {name}: SQLite's SUM raised 'integer overflow' (the original answers 500); timed with TOTAL")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                [
                    {"endpoint": c.name, "note": c.note, "sum_overflow": c.name in overflowed, **{k: vars(v) for k, v in c.results.items()}}
                    for c in cases
                ],
                f,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
