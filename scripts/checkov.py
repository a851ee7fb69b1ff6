"""checkov on the SAM-expanded template: every finding is either fixed or listed, with its reason, in
scripts/checkov-skips.txt (one line per check: `CHECK RESOURCE[,RESOURCE...]: reason`). Fails on a
finding that is not listed, and on a listed one that no longer happens (the list stays honest).
Usage: checkov.py CHECKOV_BIN EXPANDED.json SKIPS.txt"""
import json
import subprocess
import sys

checkov, template, skips_file = sys.argv[1:4]

allowed = {}
with open(skips_file) as f:
    for number, line in enumerate(f, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        head, _, reason = line.partition(":")
        check, _, resources = head.strip().partition(" ")
        if not reason.strip() or not resources.strip():
            sys.exit(f"{skips_file}:{number}: expected 'CHECK RESOURCE[,RESOURCE...]: reason'")
        for resource in resources.split(","):
            allowed[(check, resource.strip())] = reason.strip()

run = subprocess.run(
    [checkov, "-f", template, "--framework", "cloudformation", "--skip-download", "-o", "json"],
    capture_output=True,
    text=True,
)
report = json.loads(run.stdout)
if isinstance(report, list):
    report = report[0]
summary = report.get("summary", {})
if summary.get("parsing_errors"):
    sys.exit(f"checkov could not parse {template}")
failed = {
    (f["check_id"], f["resource"].split(".")[-1]): f["check_name"]
    for f in report["results"]["failed_checks"]
}
unlisted = sorted(set(failed) - set(allowed))
stale = sorted(set(allowed) - set(failed))
for check, resource in unlisted:
    print(f"checkov: {check} {resource}: {failed[(check, resource)]} (fix it, or list it with its reason)")
for check, resource in stale:
    print(f"checkov: {check} {resource} is listed in {skips_file} but no longer fails: remove the line")
print(
    f"checkov: {summary.get('passed', 0)} passed, {len(failed)} failed "
    f"({len(failed) - len(unlisted)} listed with a reason)"
)
sys.exit(1 if unlisted or stale else 0)
