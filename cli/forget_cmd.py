"""``labelloop forget IMAGE``: take an image out of the dataset, and say what was removed.

IMAGE is an upload (``images_for_detection/…`` or its ``s3://`` URI: every version of it), a
training or gate-set copy (``images_labeled_by_folder/<label>/<detection id>.png``), or a detection
id. The stack's dataset function does the work, as it does when an uploader deletes an upload: an
open review closes as ``deleted``, an accepted review's copy — training or gate set — is deleted with
every version of its key and uncounted. The upload itself stays (delete it to remove its bytes too:
that deletion forgets it again, which changes nothing more). Asks first; idempotent.
"""

from __future__ import annotations

from .tables import format_table, print_json
from .errors import UsageError
from .target import FunctionFailed
from .target_options import add_target_arguments, open_target
from .train_cmd import _confirm

FUNCTION = "dataset"


def register(sub) -> None:
    parser = sub.add_parser(
        "forget", help="take an image out of the dataset: its open review closes, its training and gate-set "
                       "copies are deleted and uncounted; asks first",
        description="Takes an image out of the dataset, as when its uploader deletes it: an open review of it "
                    "closes as deleted (it is never trained), and the copies accepted reviews made of it (training "
                    "data or gate set) are deleted with every version of their keys and uncounted. IMAGE is an "
                    "upload key under images_for_detection/ or its s3:// URI (every version of it), a training or "
                    "gate-set copy's key, or a detection id. The upload itself is left in place.")
    parser.add_argument("image", metavar="IMAGE", help="an upload key or s3:// URI, a copy's key, or a detection id")
    add_target_arguments(parser)
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.set_defaults(run=run)


def run(args) -> int:
    with open_target(args) as target:
        if not args.yes and not _confirm(f"Take {args.image} out of the dataset of {target.description}? Its "
                                         "open reviews close and its training and gate-set copies are deleted. "
                                         "[y/N] ", "forget"):
            print("Nothing was changed.")
            return 1
        try:
            result = target.invoke_function(FUNCTION, {"forget": args.image}) | {"target": target.description}
        except FunctionFailed as exc:
            if exc.error_type != "UnrecognisedEvent":
                raise
            raise UsageError(f"{exc.message}; see `labelloop forget --help`") from None
    if args.json:
        print_json(result)
    else:
        print("\n".join(render(result)))
    return 0


def render(result: dict) -> list[str]:
    found = result["forgotten"]
    if not found:
        return [f"Nothing to forget: {result['reason'] or 'no detection of it is recorded'} ({result['image']} on "
                f"{result['target']})."]
    removed = [key for f in found for key in f["removed"]]
    lines = [f"Forgot {result['image']} on {result['target']}: {len(found)} detection(s), "
             f"{len(removed)} cop{'y' if len(removed) == 1 else 'ies'} deleted.", ""]
    rows = [{"detection": f["detection_id"][:12], "version": f.get("version") or "-",
             "review": f"{f.get('was') or '-'} → {f.get('now') or '-'}" if f.get("review") else "none",
             "copies": len(f["removed"]), "uncounted": f.get("uncounted") or "-"} for f in found]
    lines.append(format_table(rows, ["detection", "version", "review", "copies", "uncounted"],
                              ["detection", "version", "review", "copies deleted", "uncounted"], right=["copies"]))
    if removed:
        lines += ["", "Deleted (every version):", *(f"  {key}" for key in removed)]
    lines += ["", "The upload itself is still in the bucket; delete it (every version) to remove its bytes too."]
    return lines
