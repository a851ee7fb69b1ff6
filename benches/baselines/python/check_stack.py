"""check-stack as it would be written in Python, the usual Lambda runtime: Python 3 and boto3 under awslambdaric.

The benchmark's baseline for init, warm time and memory. Same work as the Rust task: validate the
request, DescribeStacks, decide create / update / recreate. The client is built at init, as
stackgate builds its clients before the first event.
"""

import re

import boto3
from botocore.exceptions import ClientError

cloudformation = boto3.client("cloudformation")

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
BUSY = ("_IN_PROGRESS",)
RECREATE = {"ROLLBACK_COMPLETE", "CREATE_FAILED", "ROLLBACK_FAILED", "DELETE_FAILED"}


def handler(event, context):
    request = event.get("request") or {}
    for field in ("environmentName", "stackName"):
        if not isinstance(request.get(field), str) or not NAME.match(request[field]):
            raise ValueError(f"request.{field} is missing or not a valid name")
    name = f"{request['environmentName']}-{request['stackName']}"
    try:
        stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as error:
        if "does not exist" in error.response["Error"].get("Message", ""):
            return {"stack": {"stackName": name, "action": "CREATE", "changeSetType": "CREATE"}}
        raise
    status = stack["StackStatus"]
    if status.endswith(BUSY) and status != "REVIEW_IN_PROGRESS":
        raise RuntimeError(f"stack {name} is busy ({status})")
    action = "RECREATE" if status in RECREATE else "UPDATE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return {
        "stack": {
            "stackName": name,
            "action": action,
            "changeSetType": "CREATE" if action == "RECREATE" else "UPDATE",
            "stackId": stack["StackId"],
            "status": status,
            "outputs": outputs,
        }
    }
