"""Statements and transactions per command from two pg_stat_statements snapshots
(scripts/profile/run postgres LABEL statements): python3 pg_statements.py target/profile/LABEL"""
import sys

d = sys.argv[1]
w = dict(kv.split("=") for kv in open(d + "/window.txt").read().split())
cmds = int(w["cmds"])


def load(f):
    m = {}
    for line in open(f):
        parts = line.rstrip("\n").split("|", 2)
        if len(parts) == 3:
            m[parts[0]] = (int(parts[1]), parts[2])
    return m


a, b = load(d + "/statements-1.txt"), load(d + "/statements-2.txt")
diff = sorted(((n - a.get(q, (0, t))[0], t) for q, (n, t) in b.items()), reverse=True)
diff = [(n, t) for n, t in diff if n > 0 and "pg_stat" not in t]
total = sum(n for n, _ in diff)
x1 = [int(x) for x in open(d + "/transactions-1.txt").read().split("|")]
x2 = [int(x) for x in open(d + "/transactions-2.txt").read().split("|")]
print(f"commands {cmds}; statements {total} = {total / cmds:.2f}/command; "
      f"transactions committed {(x2[0] - x1[0]) / cmds:.2f}/command, rolled back {x2[1] - x1[1]}")
for n, t in diff[:30]:
    print(f"{n / cmds:6.3f}/cmd  {t[:150]}")
