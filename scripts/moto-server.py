"""moto server with gaps of its Step Functions interpreter mended, for the local stack.

moto runs `arn:aws:states:::states:startExecution(.sync|.sync:2)` tasks by calling boto3 with the
state's parameters as written in ASL ("StateMachineArn", "Input", "Name"). Step Functions' own API
is camelCase ("stateMachineArn"), so botocore fails with KeyError 'StateMachineArn' before any
request is sent, and the responses come back camelCase where ASL reads "ExecutionArn" and
"Output". AWS converts both ways; this launcher makes moto's interpreter do the same, for the
Step Functions integration only, then starts moto's own server unchanged.

Run: python moto-server.py -H 127.0.0.1 -p 4567   (the same arguments as moto_server)
"""

import functools
import importlib
import pkgutil
import sys

import moto.stepfunctions.parser as interpreter
from moto.server import main
from moto.stepfunctions.parser.asl.utils import json_path
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service as service_task,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_sfn as sfn_task,
)


def to_api_casing(parameters: dict) -> None:
    """ASL "StateMachineArn" -> API "stateMachineArn", in place (top-level keys only, as the API)."""
    for key in list(parameters):
        api_key = key[:1].lower() + key[1:]
        if api_key != key:
            parameters[api_key] = parameters.pop(key)


def to_asl_casing(response: object) -> None:
    """API "executionArn" -> ASL "ExecutionArn", in place; nested Input/Output documents are left as is."""
    if not isinstance(response, dict):
        return
    for key in list(response):
        asl_key = key[:1].upper() + key[1:]
        if asl_key != key:
            response[asl_key] = response.pop(key)


def extract_json(path: str, data: object) -> object:
    """JSONPath as Step Functions reads it: a wildcard or slice always yields a list.

    moto returns the bare value when such a path matches once under a named field
    (`$.TargetHealthDescriptions[*].TargetHealth.State` -> "healthy"), which then breaks
    `States.ArrayGetItem` and array comparisons that work in AWS.
    """
    if json_path._contains_slice_or_wildcard_array(path):
        return [match.value for match in json_path.parse(path).find(data)]
    return original_extract_json(path, data)


original_extract_json = json_path.extract_json


def mend_json_path() -> None:
    # The interpreter's modules import extract_json by name: rebind it in each of them.
    for module in pkgutil.walk_packages(interpreter.__path__, interpreter.__name__ + "."):
        try:
            loaded = importlib.import_module(module.name)
        except ImportError:  # dead modules of moto's port (e.g. LocalStack analytics) are never run
            continue
        if getattr(loaded, "extract_json", None) is original_extract_json:
            loaded.extract_json = extract_json
    json_path.extract_json = extract_json


def mend_step_functions_integration() -> None:
    # ASL names the service "elasticloadbalancingv2", boto3 names it "elbv2".
    service_task.StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES = {
        **service_task.StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES,
        "elasticloadbalancingv2": "elbv2",
    }
    task = sfn_task.StateTaskServiceSfn
    original_parameters = task._normalise_parameters
    original_response = task._normalise_response

    def _normalise_parameters(self, parameters, boto_service_name=None, service_action_name=None):
        original_parameters(self, parameters, boto_service_name, service_action_name)
        to_api_casing(parameters)

    def _normalise_response(self, response, boto_service_name=None, service_action_name=None):
        original_response(self, response, boto_service_name, service_action_name)
        to_asl_casing(response)

    task._normalise_parameters = _normalise_parameters
    task._normalise_response = _normalise_response


def mend_model_data() -> None:
    """`/moto-api/data.json` (where the local stack reads sent emails) reads every public attribute
    of every model and skips those that are not JSON; a Lambda function's `docker_client` raises
    DockerException instead (no Docker here), which made the whole dump fail with HTTP 500 from the
    first function a stack created. Attributes that raise anything are skipped."""
    from moto.core.model_instances import model_data
    from moto.moto_api._internal.responses import MotoAPIResponse
    import json

    def safe_model_data(self, request, full_url, headers):
        results = {}
        for service in sorted(model_data):
            models = model_data[service]
            results[service] = {}
            for name in sorted(models):
                results[service][name] = []
                for instance in models[name].instances_tracked:
                    found = {}
                    for attr in dir(instance):
                        if attr.startswith("_"):
                            continue
                        try:
                            value = getattr(instance, attr)
                            json.dumps(value)
                        except Exception:  # noqa: BLE001 - any attribute that cannot be read
                            continue
                        found[attr] = value
                    results[service][name].append(found)
        return 200, {"Content-Type": "application/javascript"}, json.dumps(results)

    MotoAPIResponse.model_data = safe_model_data


def mend_change_sets() -> None:
    """moto's change sets list every resource whose template text differs as `Modify`, never say
    "replace" and miss changes made through parameters; `change_sets` computes them as AWS does.
    An update that changes nothing fails as AWS's does. Should the computation itself fail, every
    change moto found is reported as a possible replacement, so that nothing passes as safe."""
    import traceback

    from moto.cloudformation import models

    import change_sets

    moto_diff = models.ChangeSet.diff

    def diff(self):
        stack = self.stack
        creating = self.change_set_type == "CREATE"
        try:
            old_template = {} if creating else change_sets.load_template(stack.template)
            resources = {} if creating else stack.resource_map._parsed_resources
            physical_ids = {
                logical_id: getattr(resources.get(logical_id), "physical_resource_id", None)
                for logical_id in (old_template.get("Resources") or {})
            }
            return change_sets.compute_changes(
                old_template,
                # moto keeps a stack's first parameters in `stack.parameters`; the resource map has
                # those of its last update.
                {} if creating else dict(stack.resource_map.input_parameters or {}),
                change_sets.load_template(self.template),
                dict(self.parameters or {}),
                {
                    "AWS::AccountId": stack.account_id,
                    "AWS::Region": stack.region_name,
                    "AWS::StackName": stack.name,
                    "AWS::StackId": stack.stack_id,
                    "AWS::Partition": "aws",
                    "AWS::URLSuffix": "amazonaws.com",
                },
                {k: v for k, v in physical_ids.items() if isinstance(v, str)},
                functools.partial(change_sets.create_only, region=stack.region_name),
            )
        except Exception:  # noqa: BLE001 - fail closed, loudly
            traceback.print_exc()
            return [
                {
                    "Action": c.action,
                    "LogicalResourceId": c.logical_resource_id,
                    "ResourceType": c.resource_type,
                    **({"Replacement": "Conditional"} if c.action == "Modify" else {}),
                }
                for c in moto_diff(self)
            ]

    models.ChangeSet.diff = diff

    moto_create = models.CloudFormationBackend.create_change_set

    def create_change_set(self, *args, **kwargs):
        change_set_id, stack_id = moto_create(self, *args, **kwargs)
        change_set = self.change_sets[change_set_id]
        if change_set.change_set_type == "UPDATE" and not change_set.changes:
            change_set.status = "FAILED"
            change_set.execution_status = "UNAVAILABLE"
            change_set.status_reason = change_sets.NO_CHANGES
        return change_set_id, stack_id

    models.CloudFormationBackend.create_change_set = create_change_set


if __name__ == "__main__":
    mend_step_functions_integration()
    mend_json_path()
    mend_model_data()
    mend_change_sets()
    sys.exit(main(sys.argv[1:]))
