"""moto server with gaps of its Step Functions interpreter mended, for the local stack.

moto runs `arn:aws:states:::states:startExecution(.sync|.sync:2)` tasks by calling boto3 with the
state's parameters as written in ASL ("StateMachineArn", "Input", "Name"). Step Functions' own API
is camelCase ("stateMachineArn"), so botocore fails with KeyError 'StateMachineArn' before any
request is sent, and the responses come back camelCase where ASL reads "ExecutionArn" and
"Output". AWS converts both ways; this launcher makes moto's interpreter do the same, for the
Step Functions integration only, then starts moto's own server unchanged.

Run: python moto-server.py -H 127.0.0.1 -p 4567   (the same arguments as moto_server)
"""

import copy
import functools
import importlib
import json
import os
import pkgutil
import sys
import threading
import time
import urllib.request

import moto.stepfunctions.parser as interpreter
from moto.server import main
from moto.stepfunctions.parser.asl.utils import json_path
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service as service_task,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_sfn as sfn_task,
)

import moto_iam


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


# How AWS names the errors of `aws-sdk:<service>` integrations (`CloudFormation.CloudFormationException`):
# moto knows only DynamoDb and Sfn and falls back to the lower-case name, which no Retry matches.
SDK_ERROR_NAMES = {
    "cloudformation": "CloudFormation",
    "cloudwatch": "CloudWatch",
    "ec2": "Ec2",
    "elasticloadbalancingv2": "ElasticLoadBalancingV2",
    "organizations": "Organizations",
    "ssm": "Ssm",
}


def sdk_error_name(service: str, code: str) -> str:
    """`Service.ErrorCode`, the `Exception` suffix always added (AWS: `S3.BucketAlreadyExistsException`)."""
    return f"{service}.{code}" if code.endswith("Exception") else f"{service}.{code}Exception"


def mend_sdk_error_names() -> None:
    """moto names an `aws-sdk:<service>` error by botocore's exception class (`ClientError` for an
    error the service model does not list: `cloudformation.cloudformationException` for a throttle).
    AWS names it by the error code, the service in Pascal case: `CloudFormation.ThrottlingException`."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as aws_sdk,
    )

    aws_sdk._SERVICE_ERROR_NAMES.update(SDK_ERROR_NAMES)
    moto_name = aws_sdk.StateTaskServiceAwsSdk._normalise_exception_name

    def _normalise_exception_name(norm_service_name, ex):
        code = getattr(ex, "response", {}).get("Error", {}).get("Code")
        if code:
            return sdk_error_name(norm_service_name, code)
        return moto_name(norm_service_name, ex)

    aws_sdk.StateTaskServiceAwsSdk._normalise_exception_name = staticmethod(_normalise_exception_name)

    # The optimised DynamoDB integration: `DynamoDB.InternalServerError` in moto, with the suffix in AWS.
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_dynamodb as dynamodb,
    )

    moto_dynamodb = dynamodb.StateTaskServiceDynamoDB._error_cause_from_client_error

    def _error_cause_from_client_error(client_error):
        error, cause = moto_dynamodb(client_error)
        return (error if error.endswith("Exception") else f"{error}Exception"), cause

    dynamodb.StateTaskServiceDynamoDB._error_cause_from_client_error = staticmethod(
        _error_cause_from_client_error
    )

    # The optimised Step Functions integration always appends the suffix:
    # `StepFunctions.ThrottlingExceptionException` in moto.
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_sfn as sfn,
    )

    moto_sfn_error = sfn.StateTaskServiceSfn._from_error

    def _from_error(self, env, ex):
        event = moto_sfn_error(self, env, ex)
        name = event.error_name.error_name if event.error_name else None
        if name and name.endswith("ExceptionException"):
            fixed = name[: -len("Exception")]
            event.error_name = CustomErrorName(fixed)
            details = (event.event_details or {}).get("taskFailedEventDetails")
            if details is not None:
                details["error"] = fixed
        return event

    sfn.StateTaskServiceSfn._from_error = _from_error


def sdk_client_error_name(resource: object) -> str:
    """`<Service>.SdkClientException`, as AWS names a task whose call got no answer."""
    service = getattr(resource, "service_name", None)
    if service == "aws-sdk":
        service = getattr(resource, "api_name", None)
    names = {**SDK_ERROR_NAMES, "lambda": "Lambda", "sns": "Sns", "sqs": "Sqs", "states": "StepFunctions",
             "dynamodb": "DynamoDB"}
    return f"{names.get(service, 'Task')}.SdkClientException"


def mend_lost_answers() -> None:
    """A task whose HTTP call got no answer (a closed connection, a read timeout) is a runtime error
    in moto's interpreter (`States.Runtime`, which no Retry may match, and the Fail state after it
    breaks). AWS reports it as the service's `SdkClientException`, a task failure that Retry and Catch
    see; the local stack's fault injection (`STACKGATE_FAULTS` timeout) produces such calls."""
    import botocore.exceptions as boto_errors

    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    moto_from_error = ExecutionState._from_error

    def _from_error(self, env, ex):
        if not isinstance(ex, (boto_errors.HTTPClientError, boto_errors.ConnectionError)):
            return moto_from_error(self, env, ex)
        name = sdk_client_error_name(getattr(self, "resource", None))
        return FailureEvent(
            env=env,
            error_name=CustomErrorName(name),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(
                taskFailedEventDetails=TaskFailedEventDetails(
                    error=name, cause=f"Unable to execute HTTP request: {ex}"
                )
            ),
        )

    ExecutionState._from_error = _from_error


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
    An update that changes nothing fails as AWS's does. A template the computation does not support,
    or a failure of the computation itself, fails the change set with the reason: nothing passes as
    safe because the local stack could not tell."""
    import traceback

    from moto.cloudformation import models
    from moto.ssm.models import ssm_backends

    import change_sets

    def diff(self):
        stack = self.stack
        creating = self.change_set_type == "CREATE"
        self.local_failure = None
        try:
            old_template = {} if creating else change_sets.load_template(stack.template)
            resources = {} if creating else stack.resource_map._parsed_resources
            physical_ids = {
                logical_id: getattr(resources.get(logical_id), "physical_resource_id", None)
                for logical_id in (old_template.get("Resources") or {})
            }
            deployed = {} if creating else stack.resource_map.resolved_parameters
            ssm = ssm_backends[stack.account_id][stack.region_name]

            def ssm_now(parameter, path):
                found = ssm.get_parameter(path)
                if found is None:
                    return change_sets.Unknown("ParameterReference", parameter)
                return found.value

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
                old_ssm=lambda parameter, path: (
                    ",".join(map(str, deployed[parameter]))
                    if isinstance(deployed.get(parameter), list)
                    else deployed.get(parameter, change_sets.Symbol(f"ssm {path} as deployed"))
                ),
                new_ssm=ssm_now,
            )
        except change_sets.Unsupported as unsupported:
            self.local_failure = f"The local stack cannot compute this change set: {unsupported}."
        except Exception:  # noqa: BLE001 - fail closed, loudly
            traceback.print_exc()
            self.local_failure = (
                "The local stack could not compute this change set (scripts/change_sets.py failed; "
                "the traceback is in moto's log)."
            )
        return []

    models.ChangeSet.diff = diff

    moto_create = models.CloudFormationBackend.create_change_set

    def create_change_set(self, *args, **kwargs):
        change_set_id, stack_id = moto_create(self, *args, **kwargs)
        change_set = self.change_sets[change_set_id]
        if change_set.local_failure:
            change_set.status = "FAILED"
            change_set.execution_status = "UNAVAILABLE"
            change_set.status_reason = change_set.local_failure
        elif change_set.change_set_type == "UPDATE" and not change_set.changes:
            change_set.status = "FAILED"
            change_set.execution_status = "UNAVAILABLE"
            change_set.status_reason = change_sets.NO_CHANGES
        return change_set_id, stack_id

    models.CloudFormationBackend.create_change_set = create_change_set


def mend_change_set_identity() -> None:
    """A change set is its stack's, as in AWS; moto keeps one flat list, which a retried call (its
    first answer lost) turns into a wrong answer:
    - a CREATE change set for a name whose stack is in REVIEW_IN_PROGRESS joins that stack (moto made
      a second stack of the same name), and is refused for a live stack;
    - a change set name already used on the stack is `AlreadyExistsException`;
    - a stack's change sets go with it when it is deleted;
    - DescribeChangeSet, ExecuteChangeSet and DeleteChangeSet by name find the change set of the
      stack named (moto took the last of any stack's with that name), and answer
      `ChangeSetNotFound` when it has none (moto: a ValidationError, or HTTP 500 for a delete);
    - GetTemplate with a ChangeSetName answers the change set's template (moto answered the stack's,
      so a retain policy or intent dropped by the new template was read as still there);
    - executing a change set deletes the stack's other change sets, "because they aren't valid for
      the updated stack" (ExecuteChangeSet's documentation): a plan made before another deployment
      cannot be applied after it (moto kept them executable)."""
    from moto.cloudformation import models, responses
    from moto.core.responses import ActionResult
    from moto.cloudformation.exceptions import AlreadyExistsException, CloudFormationError, ValidationError

    class ChangeSetNotFound(CloudFormationError):
        code = "ChangeSetNotFound"
        status_code = 404

    # moto's serializer finds a service's errors by their module.
    ChangeSetNotFound.__module__ = CloudFormationError.__module__

    def live(backend, name):
        return [s for s in backend.stacks.values() if s.name == name and s.status != "DELETE_COMPLETE"]

    moto_create = models.CloudFormationBackend.create_change_set

    def create_change_set(self, stack_name, change_set_name, template, parameters, description,
                          change_set_type, notification_arns=None, tags=None, role_arn=None):
        stacks = live(self, stack_name)
        for stack in stacks:
            if any(c.change_set_name == change_set_name and c.stack_id == stack.stack_id
                   for c in self.change_sets.values()):
                raise AlreadyExistsException(f"ChangeSet {change_set_name} already exists")
        if change_set_type != "CREATE" or not stacks:
            return moto_create(self, stack_name, change_set_name, template, parameters, description,
                               change_set_type, notification_arns, tags, role_arn)
        stack = stacks[0]
        if stack.status != "REVIEW_IN_PROGRESS":
            raise ValidationError(message=f"Stack [{stack_name}] already exists and cannot be created "
                                  f"again with the changeSet [{change_set_name}].")
        change_set_id = models.generate_changeset_id(change_set_name, self.region_name, self.account_id)
        change_set = models.ChangeSet(
            change_set_type="CREATE", change_set_id=change_set_id, change_set_name=change_set_name,
            stack=stack, template=template, parameters=parameters, description=description,
            notification_arns=notification_arns, tags=tags, role_arn=role_arn,
        )
        change_set.status = "CREATE_COMPLETE"
        change_set.execution_status = "AVAILABLE"
        self.change_sets[change_set_id] = change_set
        return change_set_id, stack.stack_id

    models.CloudFormationBackend.create_change_set = create_change_set

    moto_delete_stack = models.CloudFormationBackend.delete_stack

    def delete_stack(self, name_or_stack_id):
        ids = {s.stack_id for s in self.stacks.values() if name_or_stack_id in (s.stack_id, s.name)}
        moto_delete_stack(self, name_or_stack_id)
        for change_set_id in [i for i, c in self.change_sets.items() if c.stack_id in ids]:
            del self.change_sets[change_set_id]

    models.CloudFormationBackend.delete_stack = delete_stack

    moto_execute = models.CloudFormationBackend.execute_change_set

    def execute_change_set(self, change_set_name, stack_name=None):
        moto_execute(self, change_set_name, stack_name)
        executed = self.change_sets.get(change_set_name) or next(
            (c for c in self.change_sets.values() if c.change_set_name == change_set_name), None)
        if executed is None:
            return
        for other in [i for i, c in self.change_sets.items()
                      if c.stack_id == executed.stack_id and c is not executed]:
            del self.change_sets[other]

    models.CloudFormationBackend.execute_change_set = execute_change_set

    def scoped(operation):
        moto_operation = getattr(responses.CloudFormationResponse, operation)

        def by_stack(self):
            name, stack = self._get_param("ChangeSetName"), self._get_param("StackName")
            if name and stack and not name.startswith("arn:"):
                found = [i for i, c in self.cloudformation_backend.change_sets.items()
                         if c.change_set_name == name and stack in (c.stack_name, c.stack_id)]
                if not found:
                    raise ChangeSetNotFound(f"ChangeSet [{name}] does not exist")
                if self.automated_parameter_parsing:
                    self.params["ChangeSetName"] = found[-1]
                else:
                    self.querystring["ChangeSetName"] = [found[-1]]
            return moto_operation(self)

        setattr(responses.CloudFormationResponse, operation, by_stack)

    moto_get_template = responses.CloudFormationResponse.get_template

    def get_template(self):
        name = self._get_param("ChangeSetName")
        if not name:
            return moto_get_template(self)
        return ActionResult({"TemplateBody": self.cloudformation_backend.describe_change_set(name).template})

    responses.CloudFormationResponse.get_template = get_template

    for operation in ("describe_change_set", "execute_change_set", "delete_change_set", "get_template"):
        scoped(operation)


def mend_missing_template() -> None:
    """A `TemplateURL` whose object does not exist made moto answer HTTP 500, which callers retry as
    transient; AWS refuses it at once with a 400 ValidationError that says so."""
    from moto.cloudformation import responses
    from moto.cloudformation.exceptions import ValidationError

    moto_read = responses.CloudFormationResponse._get_stack_from_s3_url

    def _get_stack_from_s3_url(self, template_url):
        try:
            return moto_read(self, template_url)
        except Exception:  # noqa: BLE001 - a missing bucket or key, or a URL moto cannot read
            raise ValidationError(
                message="TemplateURL must reference a valid S3 object to which you have access."
            ) from None

    responses.CloudFormationResponse._get_stack_from_s3_url = _get_stack_from_s3_url


def mend_task_failure_cause() -> None:
    """moto's SendTaskFailure dropped the `cause`: the task failed without one, so the execution's
    history, its Catch output and its failure lost the reason (who rejected, and why). AWS keeps it,
    and the approval page compares it when a reply was lost."""
    from moto.core.responses import EmptyResult
    from moto.stepfunctions import responses

    def send_task_failure(self):
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"),
            error=self._get_param("error"),
            cause=self._get_param("cause"),
        )
        return EmptyResult()

    responses.StepFunctionResponse.send_task_failure = send_task_failure


def mend_stop_execution() -> None:
    """moto's StopExecution of an execution waiting for a task token (an approval) left it RUNNING
    until the token's timeout: the interpreter notices a stop only when the wait ends. AWS reports
    the execution ABORTED at once, with the stop's date; so does the local stack (the waiting
    thread ends later on its own, and changes nothing then)."""
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.backend import execution as backend

    original_stop = backend.Execution.stop

    def stop(self, stop_date, error, cause):
        original_stop(self, stop_date=stop_date, error=error, cause=cause)
        if self.exec_status == ExecutionStatus.RUNNING:
            self.exec_status = ExecutionStatus.ABORTED
            self.stop_date = stop_date

    original_reflect = backend.BaseExecutionWorkerCommunication._reflect_execution_status

    def reflect(self):
        if self.execution.exec_status != ExecutionStatus.ABORTED:
            original_reflect(self)

    backend.Execution.stop = stop
    backend.BaseExecutionWorkerCommunication._reflect_execution_status = reflect


def mend_drift_detection() -> None:
    """moto has no drift detection. The local stack detects what it can see: a table, bucket, topic
    or queue of a stack that was deleted outside CloudFormation is `DELETED`; every other resource is
    `NOT_CHECKED` (moto cannot compare live configuration, so nothing reads `MODIFIED`). Detection
    completes at once."""
    import datetime
    import uuid

    from moto.cloudformation import responses
    from moto.core.responses import ActionResult

    detections = {}  # detection id -> (stack id, drifts)

    def still_there(resource_type, resource, account, region):
        """Whether the physical resource exists; None for a type the local stack does not check."""
        try:
            if resource_type == "AWS::DynamoDB::Table":
                from moto.dynamodb.models import dynamodb_backends

                return resource.name in dynamodb_backends[account][region].tables
            if resource_type == "AWS::S3::Bucket":
                from moto.s3.models import s3_backends

                return any(resource.name in backend.buckets for backend in s3_backends[account].values())
            if resource_type == "AWS::SNS::Topic":
                from moto.sns.models import sns_backends

                return resource.arn in sns_backends[account][region].topics
            if resource_type == "AWS::SQS::Queue":
                from moto.sqs.models import sqs_backends

                return resource.name in sqs_backends[account][region].queues
        except AttributeError:
            return None
        return None

    def detect_stack_drift(self):
        stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
        now = datetime.datetime.now(datetime.timezone.utc)
        # The stack's resource map (what ListStackResources lists), not its `template_dict`: a
        # stack made by a CREATE change set keeps the review stack's empty one until an update.
        declared = stack.resource_map._resource_json_map
        drifts = []
        for logical_id, definition in declared.items():
            resource_type = definition.get("Type", "") if isinstance(definition, dict) else ""
            resource = stack.resource_map._parsed_resources.get(logical_id)
            there = None if resource is None else still_there(resource_type, resource, self.current_account, self.region)
            drifts.append({
                "StackId": stack.stack_id,
                "LogicalResourceId": logical_id,
                "PhysicalResourceId": getattr(resource, "physical_resource_id", None) or logical_id,
                "ResourceType": resource_type,
                "StackResourceDriftStatus": "NOT_CHECKED" if there is None else ("IN_SYNC" if there else "DELETED"),
                "PropertyDifferences": [],
                "Timestamp": now,
            })
        detection_id = str(uuid.uuid4())
        detections[detection_id] = (stack.stack_id, drifts)
        return ActionResult({"StackDriftDetectionId": detection_id})

    def describe_stack_drift_detection_status(self):
        detection_id = self._get_param("StackDriftDetectionId")
        stack_id, drifts = detections[detection_id]
        drifted = [d for d in drifts if d["StackResourceDriftStatus"] in ("MODIFIED", "DELETED")]
        return ActionResult({
            "StackId": stack_id,
            "StackDriftDetectionId": detection_id,
            "StackDriftStatus": "DRIFTED" if drifted else "IN_SYNC",
            "DetectionStatus": "DETECTION_COMPLETE",
            "DriftedStackResourceCount": len(drifted),
            "Timestamp": datetime.datetime.now(datetime.timezone.utc),
        })

    def describe_stack_resource_drifts(self):
        stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
        wanted = set(self._get_param("StackResourceDriftStatusFilters", []) or [])
        latest = [drifts for stack_id, drifts in detections.values() if stack_id == stack.stack_id]
        found = latest[-1] if latest else []
        return ActionResult({
            "StackResourceDrifts": [
                d for d in found if not wanted or d["StackResourceDriftStatus"] in wanted
            ]
        })

    responses.CloudFormationResponse.detect_stack_drift = detect_stack_drift
    responses.CloudFormationResponse.describe_stack_drift_detection_status = describe_stack_drift_detection_status
    responses.CloudFormationResponse.describe_stack_resource_drifts = describe_stack_resource_drifts


# How long a stack operation started with a ClientRequestToken (stackgate's) stays *_IN_PROGRESS.
# moto completes stacks synchronously; AWS takes seconds to hours and says so by an event.
STACK_SECONDS = float(os.environ.get("STACKGATE_STACK_SECONDS", "2"))

IN_PROGRESS = {
    "CREATE_COMPLETE": "CREATE_IN_PROGRESS",
    "UPDATE_COMPLETE": "UPDATE_IN_PROGRESS",
    "DELETE_COMPLETE": "DELETE_IN_PROGRESS",
    "IMPORT_COMPLETE": "IMPORT_IN_PROGRESS",
}


def in_progress(status: str) -> str:
    """The status a stack shows while the operation that ends in `status` runs."""
    if status in IN_PROGRESS:
        return IN_PROGRESS[status]
    return status.split("_")[0] + "_IN_PROGRESS"


def stack_status_change(stack_id: str, status: str, token: str) -> dict:
    """CloudFormation's Stack Status Change event, as a PutEvents entry (EventBridge adds the
    envelope: version, id, account, time, region); its detail is `stack_events::StackStatusChange`."""
    detail = {"stack-id": stack_id, "status-details": {"status": status, "status-reason": ""}}
    if token:
        detail["client-request-token"] = token
    return {
        "Source": "aws.cloudformation",
        "DetailType": "CloudFormation Stack Status Change",
        "Detail": json.dumps(detail),
        "Resources": [stack_id],
    }


def mend_stack_operation_events() -> None:
    """ExecuteChangeSet and DeleteStack with a ClientRequestToken leave the stack *_IN_PROGRESS for
    STACKGATE_STACK_SECONDS, then settle it and put CloudFormation's Stack Status Change event on the
    default bus, where rules route it (Lambda targets: `mend_lambda_targets`). Operations without a
    token (the tests' own set-up) complete at once, as moto's do, and emit the event too."""
    from moto.cloudformation import models, responses
    from moto.core.utils import utcnow
    from moto.events.models import events_backends

    verbs = {"Add": "CREATE", "Modify": "UPDATE", "Remove": "DELETE", "Import": "IMPORT"}

    def resource_events(stack, changes, phase):
        """Each changed resource's event (moto writes none for a change set): `phase` is
        IN_PROGRESS as the operation starts, COMPLETE as it settles."""
        made = []
        for change in changes:
            if isinstance(change, dict):
                change = change.get("ResourceChange", change)
                action, logical_id, kind = (change.get("Action"), change.get("LogicalResourceId"),
                                            change.get("ResourceType"))
                physical = change.get("PhysicalResourceId")
            else:
                action, logical_id, kind, physical = (change.action, change.logical_resource_id,
                                                       change.resource_type, None)
            verb = verbs.get(action)
            if verb is None or not logical_id:
                continue
            if physical is None:
                resource = getattr(stack.resource_map, "_parsed_resources", {}).get(logical_id)
                physical = getattr(resource, "physical_resource_id", None) or ""
            made.append(models.Event(
                stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=logical_id,
                physical_resource_id=physical if isinstance(physical, str) else "",
                resource_type=kind or "", resource_status=f"{verb}_{phase}",
                resource_status_reason=None, resource_properties=None))
        return made

    def hold(backend, stack, token, finish=lambda: None):
        final = stack.status
        entry = stack_status_change(stack.stack_id, final, token)

        def settle():
            finish()
            if stack.status == in_progress(final):
                stack.status = final
            events_backends[backend.account_id][backend.region_name].put_events([entry])

        if not token or STACK_SECONDS <= 0:
            settle()
            return
        stack.status = in_progress(final)
        timer = threading.Timer(STACK_SECONDS, settle)
        timer.daemon = True
        timer.start()

    def find(backend, name_or_id):
        if not name_or_id:
            return None
        for stack in list(backend.stacks.values()):
            if name_or_id in (stack.stack_id, stack.name) and stack.status != "DELETE_COMPLETE":
                return stack
        return None

    def held(operation):
        moto_operation = getattr(responses.CloudFormationResponse, operation)
        if getattr(moto_operation, "held", False):  # mended already (tests load this file twice)
            return

        def run(self):
            backend = self.cloudformation_backend
            stack = find(backend, self._get_param("StackName"))
            changes = []
            if operation == "execute_change_set" and stack is not None:
                name = self._get_param("ChangeSetName")
                for change_set in list(backend.change_sets.values()):
                    if name in (change_set.change_set_id, change_set.change_set_name) and \
                            change_set.stack_id == stack.stack_id:
                        changes = list(change_set.changes or [])
            answer = moto_operation(self)
            if stack is not None:
                # The stack's own end is written when it settles, after its resources' ends, as
                # CloudFormation orders them; DescribeStackEvents and DescribeStacks then agree.
                last = stack.events[-1] if stack.events else None
                final = last if last is not None and last.resource_status == stack.status else None
                if final is not None:
                    stack.events.pop()
                stack.events.extend(resource_events(stack, changes, "IN_PROGRESS"))

                def finish():
                    stack.events.extend(resource_events(stack, changes, "COMPLETE"))
                    if final is not None:
                        final.timestamp = utcnow()
                        stack.events.append(final)

                hold(backend, stack, self._get_param("ClientRequestToken") or "", finish)
            return answer

        run.held = True
        setattr(responses.CloudFormationResponse, operation, run)

    for operation in ("execute_change_set", "delete_stack"):
        held(operation)


def mend_lambda_targets() -> None:
    """EventBridge rules deliver to Lambda targets, as in AWS: asynchronously, through the front
    door (MOTO_PORT), which invokes the function. moto delivers to logs, SQS and buses only."""
    from moto.events import models
    from moto.utilities.arns import parse_arn

    moto_send = models.Rule.send_to_targets
    if getattr(moto_send, "lambda_targets", False):
        return

    def deliver(arn, event):
        """One asynchronous invocation; a function error is retried twice, as Lambda retries an
        asynchronous invocation (after about 1 and 2 minutes in AWS; 1 and 2 seconds here)."""
        port = os.environ.get("MOTO_PORT", "4566")
        problem = None
        for pause in (0, 1, 2):
            time.sleep(pause)
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/2015-03-31/functions/{arn}/invocations",
                data=json.dumps(event, default=str).encode(),
                headers={"Content-Type": "application/json", "X-Amz-Invocation-Type": "Event"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=120) as answer:
                    answer.read()
                    if answer.headers.get("X-Amz-Function-Error") is None:
                        return
                    problem = "the function failed"
            except Exception as error:
                problem = error
        # A lost event: the waiting task's timeout reconciles it.
        print(f"event to {arn} not handled after 3 attempts: {problem}", file=sys.stderr)

    def send_to_targets(self, original_event, transform_input=True):
        is_lambda = [parse_arn(t["Arn"]).service == "lambda" for t in self.targets]
        if not all(is_lambda):
            # moto's delivery for the targets it knows (it raises on a Lambda one).
            others = copy.copy(self)
            others.targets = [t for t, to_lambda in zip(self.targets, is_lambda) if not to_lambda]
            moto_send(others, original_event, transform_input)
        if not any(is_lambda) or not self.event_pattern.matches_event(original_event):
            return
        for target, to_lambda in zip(self.targets, is_lambda):
            if to_lambda:
                threading.Thread(target=deliver, args=(target["Arn"], original_event), daemon=True).start()

    send_to_targets.lambda_targets = True
    models.Rule.send_to_targets = send_to_targets


if __name__ == "__main__":
    mend_step_functions_integration()
    mend_json_path()
    mend_model_data()
    mend_sdk_error_names()
    mend_lost_answers()
    mend_change_set_identity()
    mend_change_sets()  # after: it marks what the identity mend creates too
    mend_missing_template()
    mend_task_failure_cause()
    mend_stop_execution()
    mend_drift_detection()
    mend_stack_operation_events()  # after the identity mend: it wraps what that one installed
    mend_lambda_targets()
    # The functions and state machines run under their own roles (scripts/moto_iam.py; STACKGATE_IAM=off switches it off).
    moto_iam.mend_iam_enforcement()
    moto_iam.mend_policy_evaluation()
    moto_iam.mend_state_machine_credentials()
    sys.exit(main(sys.argv[1:]))
