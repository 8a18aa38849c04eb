"""``faasflow fsck WORKSPACE|s3://bucket/prefix [--repair]``: check every index shard's
segments against its manifest and, with ``--repair``, quarantine the damaged ones."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from faasflow.errors import FaasflowError

CLEAN, DAMAGED = 0, 1


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "fsck", help="check (and repair) the index shards of a workspace or an S3 prefix",
        description="Check every index shard under PATH: each segment its manifest lists must exist, have the "
        "size and checksum the manifest recorded, and parse. Exit code 0 when all are sound, 1 when a segment is "
        "damaged. With --repair, each damaged segment is moved to the shard's quarantine/ prefix, a manifest "
        "without it is published, and the ids of the documents lost are printed; exit code 0 once repaired.")
    parser.add_argument("path", help="a workspace folder (where a Flow's executors keep their data) "
                        "or an s3://bucket/prefix/ URL (the Flow's storage_url)")
    parser.add_argument("--repair", action="store_true",
                        help="quarantine damaged segments and publish manifests without them")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run)


def open_path(path: str) -> Any:
    """The storage at ``path``: a workspace folder, or an S3 prefix (the aws extra)."""
    if path.startswith("s3://"):
        from faasflow.extras import require

        require("faasflow fsck", "aws")
        from faasflow.storage import open_storage

        try:
            return open_storage(path)
        except ValueError as exc:
            raise FaasflowError(str(exc)) from None
    from faasflow.storage.local import LocalStorage

    folder = Path(path.removeprefix("file://"))
    if not folder.exists():
        raise FaasflowError(f"no such workspace folder: {path}")
    if not folder.is_dir():
        raise FaasflowError(f"{path} is a file, not a workspace folder")
    return LocalStorage(folder)


def run(args: argparse.Namespace) -> int:
    from faasflow.commands.common import fail
    from faasflow.index.check import check, find_shards, repair
    from faasflow.storage.base import StorageError
    from faasflow.storage.segments import MANIFEST

    storage = open_path(args.path)
    try:
        prefixes = find_shards(storage)
        if not prefixes:
            raise FaasflowError(f"{args.path} is not a faasflow workspace: no shard manifest ({MANIFEST}) under it")
        shards = [check(storage, prefix) for prefix in prefixes]
        repairs = {shard.name: repair(storage, shard) for shard in shards} if args.repair else {}
    except StorageError as exc:
        return fail(str(exc), DAMAGED)
    report = _report(shards, repairs)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report, args.repair)
    return CLEAN if report["clean"] or report["repaired"] else DAMAGED


def _report(shards: list[Any], repairs: dict[str, list[Any]]) -> dict[str, Any]:
    from faasflow.storage.segments import MANIFEST

    problems, notes = [], []
    for shard in shards:
        if shard.manifest_problem is not None:
            problems.append({"shard": shard.name, "segment": MANIFEST, "problem": shard.manifest_problem})
        for key, problem in shard.centroid_problems.items():
            problems.append({"shard": shard.name, "segment": key, "problem": problem})
        for seg in shard.segments:
            if seg.problem is not None:
                problems.append({"shard": shard.name, "segment": seg.key, "problem": seg.problem})
            if seg.note is not None:
                notes.append({"shard": shard.name, "segment": seg.key, "note": seg.note})
    repaired = [{"shard": name, **done.to_json()} for name, found in repairs.items() for done in found]
    unrepairable = [s.name for s in shards if s.manifest_problem is not None]
    return {
        "shards": len(shards),
        "segments": sum(len(s.segments) for s in shards),
        "problems": problems,
        "notes": notes,
        "unlisted_segments": sum(s.unlisted for s in shards),
        "repaired": bool(repairs) and bool(repaired) and not unrepairable,
        "repairs": repaired,
        "unrepairable": unrepairable,
        "clean": not problems,
    }


def _print(report: dict[str, Any], repairing: bool) -> None:
    for item in report["problems"]:
        print(f"{item['shard']}: {item['segment']}: {item['problem']}")
    for item in report["notes"]:
        print(f"{item['shard']}: {item['segment']}: {item['note']}")
    for done in report["repairs"]:
        where = f"moved to {done['quarantined']}" if done["quarantined"] else "nothing stored to keep"
        print(f"{done['shard']}: {done['segment']}: dropped from the manifest, {where}")
        if done["lost_ids"] is None:
            rows = done["recorded_rows"]
            print(f"{done['shard']}: {done['segment']}: its ids could not be recovered; the manifest recorded "
                  f"{'an unknown number of' if rows is None else f'{rows:,}'} rows")
        else:
            lost = done["lost_ids"]
            print(f"{done['shard']}: {done['segment']}: {len(lost)} doc(s) lost"
                  f"{': ' + ', '.join(lost) if lost else ''}")
        for label, key in (("older version(s) live again", "reverted_ids"),
                           ("deleted doc(s) live again", "resurrected_ids")):
            if done[key]:
                print(f"{done['shard']}: {done['segment']}: {len(done[key])} {label}: {', '.join(done[key])}")
    problems, shards = len(report["problems"]), report["shards"]
    summary = (f"checked {shards} shard(s), {report['segments']} segment(s): "
               f"{'no problems' if not problems else f'{problems} problem(s)'}")
    if report["unlisted_segments"]:
        summary += f"; {report['unlisted_segments']} unlisted segment(s) await garbage collection"
    print(summary)
    if repairing and report["repairs"]:
        lost = sum(len(d["lost_ids"] or ()) for d in report["repairs"])
        unknown = sum(d["lost_ids"] is None for d in report["repairs"])
        print(f"repaired: {len(report['repairs'])} segment(s) quarantined, {lost} doc(s) lost"
              f"{f', {unknown} segment(s) with ids that could not be recovered' if unknown else ''}")
    for name in report["unrepairable"] if repairing else ():
        print(f"{name}: not repaired: its manifest is unreadable (its segments were not checked)")
    if problems and not repairing:
        print("run again with --repair to quarantine the damaged segments")
