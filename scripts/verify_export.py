#!/usr/bin/env python3
"""Re-verify an event export of prconfirm from the documented canonical form alone.

    python3 scripts/verify_export.py EVENTS.jsonl [--checkpoints CHECKPOINTS.jsonl | --window]

EVENTS.jsonl comes from `prconfirm audit export --out EVENTS.jsonl` (one event per line).
For every case: sequences run 1, 2, 3, ...; each prev_hash is the previous event's hash (64
zeros for the first); each hash is SHA-256(prev_hash bytes || canonical event), where the
canonical event is the canonical JSON of {aggregate_id, aggregate_type, event_type,
event_version, metadata without hash and prev_hash, payload, sequence} (docs/audit.md).

With --window (for `prconfirm audit export --from T --to T`, which may start a case in the
middle of its chain), a case's events may start at any sequence: the first one's prev_hash is
its anchor, taken as given, and from there everything is checked as above. Each anchor not at
the start of its case is printed; check it against the hash of the case's previous event in
an earlier export or from GET /v1/audit/cases/{id}/events.

With --checkpoints (from `prconfirm audit checkpoints export`), also folds the running root
over the events in feed order and compares each checkpoint's count and root. It does not
check the Ed25519 signatures (the standard library has no Ed25519): `prconfirm audit verify`
does, or any Ed25519 tool over the statement described in docs/audit.md.

Exit status: 0 when everything verifies, 1 when something does not (the first bad event is
named), 2 when the input cannot be read. Standard library only.
"""

import hashlib
import json
import sys

ZERO = "0" * 64
CHAIN_KEYS = ("hash", "prev_hash")


class NotCanonical(Exception):
    pass


def refuse_float(text):
    raise NotCanonical(f"non-integer number {text}")


def parse_int(text):
    if text == "-0":  # serde_json reads -0 as a float; the canonical form has none
        refuse_float(text)
    return int(text)


def loads(line):
    return json.loads(line, parse_float=refuse_float, parse_int=parse_int,
                      parse_constant=refuse_float)


def canonical(value):
    """Sorted keys, no whitespace, UTF-8, escapes as serde_json writes them."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def event_hash(prev_hex, event):
    metadata = {k: v for k, v in event["metadata"].items() if k not in CHAIN_KEYS}
    body = {
        "aggregate_id": event["aggregate_id"],
        "aggregate_type": event["aggregate_type"],
        "event_type": event["event_type"],
        "event_version": event["event_version"],
        "metadata": metadata,
        "payload": event["payload"],
        "sequence": event["sequence"],
    }
    return hashlib.sha256(bytes.fromhex(prev_hex) + canonical(body)).hexdigest()


def is_hash(value):
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def check_case(events, window=False):
    """The first problem of one case's events (sorted by sequence), or None. In a window, the
    first event's sequence and prev_hash are the anchor the rest is checked from (unless it
    is the case's first event, whose prev_hash must be zeros as always)."""
    prev, first = ZERO, 1
    if (window and events and events[0]["sequence"] != 1
            and is_hash(events[0]["metadata"].get("prev_hash"))):
        prev, first = events[0]["metadata"]["prev_hash"], events[0]["sequence"]
    for expected, event in enumerate(events, start=first):
        metadata = event["metadata"]
        stored_prev, stored = metadata.get("prev_hash"), metadata.get("hash")
        if not (is_hash(stored_prev) and is_hash(stored)):
            return event, "missing_hash: no hash or prev_hash of 64 lowercase hex digits"
        if event["sequence"] != expected:
            return event, f"unexpected_sequence: expected {expected}"
        if stored_prev != prev:
            return event, f"broken_link: prev_hash {stored_prev} is not {prev}"
        try:
            computed = event_hash(stored_prev, event)
        except (NotCanonical, UnicodeEncodeError, ValueError) as e:
            return event, f"not_canonical: {e}"
        if computed != stored:
            return event, f"hash_mismatch: content hashes to {computed}, stored {stored}"
        prev = stored
    return None


def cursor_key(text):
    tx, position = text.split(".")
    return int(tx), int(position)


def check_checkpoints(events, path):
    """The first checkpoint whose count or root differs from the export's, or None."""
    with open(path, encoding="utf-8") as f:
        checkpoints = [json.loads(line) for line in f if line.strip()]
    checkpoints.sort(key=lambda c: cursor_key(c["cursor"]))
    feed = sorted(events, key=lambda e: cursor_key(e["cursor"]))
    root, count, at = bytes(32), 0, 0
    for cp in checkpoints:
        limit = cursor_key(cp["cursor"])
        while at < len(feed) and cursor_key(feed[at]["cursor"]) <= limit:
            root = hashlib.sha256(root + bytes.fromhex(feed[at]["metadata"].get("hash", ZERO))).digest()
            count, at = count + 1, at + 1
        if count != cp["count"] or root.hex() != cp["root"]:
            return cp, count, root.hex()
    return None


def main(argv):
    args = argv[1:]
    checkpoints, window = None, False
    if len(args) == 3 and args[1] == "--checkpoints":
        checkpoints = args[2]
        args = args[:1]
    elif len(args) == 2 and args[1] == "--window":
        window = True
        args = args[:1]
    if len(args) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    try:
        with open(args[0], encoding="utf-8") as f:
            events = [loads(line) for line in f if line.strip()]
    except (OSError, ValueError, NotCanonical) as e:
        print(f"cannot read {args[0]}: {e}", file=sys.stderr)
        return 2

    cases = {}
    for event in events:
        cases.setdefault((event["aggregate_type"], event["aggregate_id"]), []).append(event)
    problems, anchors = [], []
    for case_events in cases.values():
        case_events.sort(key=lambda e: e["sequence"])
        problem = check_case(case_events, window)
        if problem:
            problems.append(problem)
        elif window and case_events[0]["sequence"] != 1:
            anchors.append(case_events[0])
    if problems:
        event, reason = min(problems, key=lambda p: p[0]["position"])
        print(f"FAILED: {len(problems)} of {len(cases)} cases have a bad event; the first: "
              f"case {event['aggregate_id']} sequence {event['sequence']} "
              f"position {event['position']}: {reason}")
        return 1
    if checkpoints:
        mismatch = check_checkpoints(events, checkpoints)
        if mismatch:
            cp, count, root = mismatch
            print(f"FAILED: checkpoint {cp['count']} at {cp['cursor']} (root {cp['root']}): "
                  f"the export holds {count} events there, root {root}")
            return 1
    for event in sorted(anchors, key=lambda e: e["position"]):
        print(f"anchor: case {event['aggregate_id']} starts at sequence {event['sequence']} "
              f"after prev_hash {event['metadata']['prev_hash']}")
    print(f"verified {len(events)} events in {len(cases)} cases"
          + (" and the checkpoints' counts and roots" if checkpoints else "")
          + (f", {len(anchors)} of them from an anchor" if window else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
