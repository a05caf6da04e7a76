#!/usr/bin/env python3
"""Writes a realistic Slurm accounting dump (`sacct --parsable2`) for import benchmarks.

The layout is the one CEEMS asks sacct for (JobIDRaw, Partition, QOS, Account, Group, GID, User,
UID, Submit, Start, End, Elapsed, ElapsedRaw, ExitCode, State, AllocTRES, NodeList, JobName,
WorkDir) with a header line, times with a UTC offset (`SLURM_TIME_FORMAT=%Y-%m-%dT%H:%M:%S%z`) in
Europe/Paris, so both DST offsets appear. The content mimics a mid-sized cluster over three years:

- power-law activity over 2000 users, each in one to three of 300 accounts;
- five partitions (cpu, bigmem, gpu with typed GPUs, debug, long) with their own node names;
- AllocTRES with billing, cpu, gres/gpu (typed and untyped), mem (M or G, some with decimals)
  and node; node lists with ranges (`cn-[0001-0004,0009]`, `gpu-a[01-02]`);
- lognormal waits and run times capped by the partition's time limit;
- states COMPLETED, FAILED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, `CANCELLED by <uid>` (some
  before they started: Start `Unknown`, NodeList `None assigned`), and RUNNING jobs (End
  `Unknown`) towards the end of the dump;
- job steps (`<id>.batch`, `<id>.extern`, `<id>.0`) after a share of the jobs, which importers
  skip.

The output is deterministic for a seed. Usage:

    benches/scripts/gen_sacct.py LINES OUTPUT [--seed S]

It prints the number of lines, job lines and step lines written.
"""

import argparse
import math
import random
import sys
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

HEADER = (
    "JobIDRaw|Partition|QOS|Account|Group|GID|User|UID|Submit|Start|End|Elapsed|ElapsedRaw|"
    "ExitCode|State|AllocTRES|NodeList|JobName|WorkDir"
)

ZONE = ZoneInfo("Europe/Paris")
# 2021-06-01T00:00:00Z: three years of history ending mid-2024.
T0 = 1_622_505_600
SPAN = 3 * 365 * 86_400

# name, node prefix, node count, digits, cores per node, mem per node (MiB), gpus per node,
# gpu type, time limit (s), share of jobs, qos
PARTITIONS = [
    ("cpu", "cn-", 800, 4, 64, 256_000, 0, None, 2 * 86_400, 0.52, "normal"),
    ("bigmem", "bm-", 40, 2, 96, 1_536_000, 0, None, 3 * 86_400, 0.06, "normal"),
    ("gpu", "gpu-a", 120, 3, 48, 512_000, 4, "a100", 2 * 86_400, 0.28, "gpu"),
    ("debug", "dbg-", 8, 2, 32, 128_000, 0, None, 3600, 0.10, "debug"),
    ("long", "cn-", 800, 4, 64, 256_000, 0, None, 7 * 86_400, 0.04, "long"),
]

JOB_NAMES = [
    "bash", "run.sh", "train", "eval", "preprocess", "lammps", "gromacs_md", "vasp",
    "cp2k.popt", "python", "jupyter", "sweep-lr", "mpi_bench", "array job", "postproc",
    "namd2", "wrf", "openfoam", "quantum_espresso", "ray-worker",
]

STATES = [
    ("COMPLETED", 0.72),
    ("FAILED", 0.09),
    ("CANCELLED", 0.08),
    ("TIMEOUT", 0.06),
    ("OUT_OF_MEMORY", 0.03),
    ("NODE_FAIL", 0.01),
    ("PREEMPTED", 0.01),
]


def cumulative(weights):
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return [c / total for c in out]


def pick(cum, r):
    # Linear scan: the lists are short.
    for i, c in enumerate(cum):
        if r <= c:
            return i
    return len(cum) - 1


class Clock:
    """`YYYY-MM-DDTHH:MM:SS±hhmm` in Europe/Paris, with offsets and dates cached per hour/day."""

    def __init__(self):
        self.offsets = {}
        self.days = {}

    def offset(self, hour):
        off = self.offsets.get(hour)
        if off is None:
            dt = datetime.fromtimestamp(hour * 3600, timezone.utc).astimezone(ZONE)
            secs = int(dt.utcoffset().total_seconds())
            sign = "+" if secs >= 0 else "-"
            secs = abs(secs)
            off = (int(dt.utcoffset().total_seconds()),
                   f"{sign}{secs // 3600:02d}{(secs % 3600) // 60:02d}")
            self.offsets[hour] = off
        return off

    def render(self, t):
        secs, text = self.offset(t // 3600)
        local = t + secs
        day, rem = divmod(local, 86_400)
        d = self.days.get(day)
        if d is None:
            d = (datetime(1970, 1, 1) + timedelta(days=day)).strftime("%Y-%m-%d")
            self.days[day] = d
        h, rem = divmod(rem, 3600)
        m, s = divmod(rem, 60)
        return f"{d}T{h:02d}:{m:02d}:{s:02d}{text}"


def elapsed(secs):
    d, rem = divmod(secs, 86_400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    if d:
        return f"{d}-{h:02d}:{m:02d}:{s:02d}"
    return f"{h:02d}:{m:02d}:{s:02d}"


def node_list(rng, prefix, total, digits, count):
    """A Slurm host list of `count` nodes: contiguous runs, sometimes with a gap."""
    start = rng.randrange(0, max(1, total - count - 4))
    ids = list(range(start, start + count))
    if count > 2 and rng.random() < 0.3:
        # Skip a node in the middle: `[0001-0003,0005-0006]`.
        ids = ids[: count // 2] + [i + 1 for i in ids[count // 2:]]
    if count == 1:
        return f"{prefix}{ids[0]:0{digits}d}"
    parts, run_start, prev = [], ids[0], ids[0]
    for i in ids[1:] + [None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        if run_start == prev:
            parts.append(f"{run_start:0{digits}d}")
        else:
            parts.append(f"{run_start:0{digits}d}-{prev:0{digits}d}")
        if i is not None:
            run_start = prev = i
    return f"{prefix}[{','.join(parts)}]"


def mem_text(rng, mib):
    if mib >= 10_240 and rng.random() < 0.5:
        g = mib / 1024
        return f"{g:.2f}G" if rng.random() < 0.3 else f"{int(g)}G"
    return f"{mib}M"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lines", type=int, help="lines to write after the header")
    ap.add_argument("output", help="output file")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)

    n_users, n_accounts = 2000, 300
    users = [f"u{rng.randrange(16**6):06x}" for _ in range(n_users)]
    accounts = [f"proj{i:04d}" for i in range(n_accounts)]
    user_accounts = [rng.sample(range(n_accounts), rng.randint(1, 3)) for _ in range(n_users)]
    # Zipf-like activity: user i weighs 1/(i+1)^0.9.
    user_cum = cumulative([1.0 / (i + 1) ** 0.9 for i in range(n_users)])
    part_cum = cumulative([p[9] for p in PARTITIONS])
    state_cum = cumulative([s[1] for s in STATES])
    clock = Clock()

    # Submissions advance with the lines written, so the dump covers the whole span whatever the
    # share of steps; the last jobs may still be running at its end.
    gap = SPAN / max(1, args.lines)
    end_of_dump = T0 + SPAN
    job_id = 4_000_000
    written = jobs = steps = 0
    out = open(args.output, "w", buffering=1 << 22)
    out.write(HEADER + "\n")
    w = out.write
    while written < args.lines:
        job_id += rng.randint(1, 3)
        submit = T0 + int(written * gap) + rng.randrange(max(1, int(gap)))
        jobs += 1
        ui = pick(user_cum, rng.random())
        user, uid = users[ui], 10_000 + ui
        ai = user_accounts[ui][0 if rng.random() < 0.7 else rng.randrange(len(user_accounts[ui]))]
        account, gid = accounts[ai], 20_000 + ai
        (pname, prefix, pnodes, digits, cores, mem_node, gpus_node, gtype, limit, _,
         qos) = PARTITIONS[pick(part_cum, rng.random())]
        nodes = 1 if rng.random() < 0.8 else min(pnodes // 4, int(2 ** rng.uniform(1, 5)))
        if gpus_node:
            gpus = nodes * gpus_node if nodes > 1 else rng.choice([1, 1, 2, 4])
            cpus = gpus * (cores // gpus_node)
        else:
            gpus = 0
            cpus = nodes * cores if nodes > 1 else rng.choice([1, 2, 4, 8, 16, 32, 64])
            cpus = min(cpus, nodes * cores)
        mem_mib = (mem_node * nodes if nodes > 1 else
                   max(1000, int(mem_node * cpus / cores)))
        billing = cpus + 8 * gpus
        wait = int(min(14 * 86_400, math.exp(rng.gauss(5.5, 2.2))))
        run = int(min(limit, math.exp(rng.gauss(7.5, 2.0))))
        state = STATES[pick(state_cum, rng.random())][0]
        exit_code = "0:0"
        start = submit + wait
        if state == "TIMEOUT":
            run = limit
            exit_code = "0:15"
        elif state in ("FAILED", "OUT_OF_MEMORY"):
            exit_code = rng.choice(["1:0", "2:0", "137:0", "0:9"])
        elif state == "NODE_FAIL":
            exit_code = "0:0"
        elif state == "CANCELLED":
            canceller = uid if rng.random() < 0.9 else 0
            state = f"CANCELLED by {canceller}"
            if rng.random() < 0.3:
                start = None
        end = None if start is None else start + run
        if start is not None and end > end_of_dump:
            # Still running at the time of the dump.
            if start >= end_of_dump:
                start = None
                state = "CANCELLED by 0"
            else:
                state, exit_code, end = "RUNNING", "0:0", None
        if start is None:
            start_t, end_t, el, el_raw = "Unknown", clock.render(min(submit + wait, end_of_dump)), 0, 0
            nl = "None assigned"
            tres = f"billing={billing},cpu={cpus},mem={mem_text(rng, mem_mib)},node={nodes}"
            if gpus:
                tres = (f"billing={billing},cpu={cpus},gres/gpu:{gtype}={gpus},"
                        f"gres/gpu={gpus},mem={mem_text(rng, mem_mib)},node={nodes}")
        else:
            start_t = clock.render(start)
            if end is None:
                end_t = "Unknown"
                el_raw = end_of_dump - start
            else:
                end_t = clock.render(end)
                el_raw = end - start
            el = el_raw
            nl = node_list(rng, prefix, pnodes, digits, nodes)
            m = mem_text(rng, mem_mib)
            if gpus:
                if rng.random() < 0.8:
                    g = f"gres/gpu:{gtype}={gpus},gres/gpu={gpus}"
                else:
                    g = f"gres/gpu={gpus}"
                tres = f"billing={billing},cpu={cpus},{g},mem={m},node={nodes}"
            else:
                tres = f"billing={billing},cpu={cpus},mem={m},node={nodes}"
        name = JOB_NAMES[rng.randrange(len(JOB_NAMES))]
        workdir = f"/home/{user}/{account}/run{rng.randrange(1000)}"
        w(f"{job_id}|{pname}|{qos}|{account}|{account}|{gid}|{user}|{uid}|"
          f"{clock.render(submit)}|{start_t}|{end_t}|{elapsed(el)}|{el_raw}|{exit_code}|"
          f"{state}|{tres}|{nl}|{name}|{workdir}\n")
        written += 1
        if start is not None and written < args.lines and rng.random() < 0.12:
            # Steps: batch and extern, sometimes an srun step.
            for sname in ("batch", "extern", "0")[: rng.randint(1, 3)]:
                if written >= args.lines:
                    break
                step_nl = nl.split(",")[0] if sname == "batch" else nl
                step_tres = f"cpu={cpus},mem={mem_text(rng, mem_mib)},node={nodes}"
                w(f"{job_id}.{sname}|||{account}|{account}|{gid}|||"
                  f"{clock.render(start)}|{start_t}|{end_t}|{elapsed(el)}|{el_raw}|"
                  f"{exit_code}|{state.split()[0]}|{step_tres}|{step_nl}|{sname}|\n")
                written += 1
                steps += 1
    out.close()
    print(f"{args.output}: {written} lines ({jobs} jobs, {steps} job steps) after the header")


if __name__ == "__main__":
    sys.exit(main())
