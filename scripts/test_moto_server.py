"""Unit tests of scripts/moto-server.py (run by scripts/test.sh with the moto venv's python)."""

import importlib.util
import json
import pathlib
import unittest

spec = importlib.util.spec_from_file_location(
    "moto_server", pathlib.Path(__file__).with_name("moto-server.py")
)
moto_server = importlib.util.module_from_spec(spec)
spec.loader.exec_module(moto_server)
moto_server.mend_step_functions_integration()
moto_server.mend_json_path()
moto_server.mend_model_data()
moto_server.mend_sdk_error_names()
moto_server.mend_lost_answers()
moto_server.mend_task_failure_cause()
moto_server.mend_stop_execution()


class Casing(unittest.TestCase):
    def test_parameters_take_the_api_casing(self):
        parameters = {"StateMachineArn": "arn", "Name": "n", "Input": "{}"}
        moto_server.to_api_casing(parameters)
        self.assertEqual(parameters, {"stateMachineArn": "arn", "name": "n", "input": "{}"})

    def test_responses_take_the_asl_casing_at_the_top_level_only(self):
        response = {"executionArn": "arn", "output": {"stackName": "s"}}
        moto_server.to_asl_casing(response)
        self.assertEqual(response, {"ExecutionArn": "arn", "Output": {"stackName": "s"}})
        moto_server.to_asl_casing("not a document")  # left alone

    def test_the_nested_execution_task_is_mended(self):
        task = moto_server.sfn_task.StateTaskServiceSfn.__new__(moto_server.sfn_task.StateTaskServiceSfn)
        response = {"executionArn": "arn", "startDate": "2026-01-01"}
        task._normalise_response(response)
        self.assertEqual(set(response), {"ExecutionArn", "StartDate"})

    def test_sdk_integration_errors_take_aws_names(self):
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
            state_task_service_aws_sdk as aws_sdk,
        )

        normalise = aws_sdk.StateTaskServiceAwsSdk._normalise_service_error_name
        self.assertEqual(normalise("cloudformation"), "CloudFormation")
        self.assertEqual(normalise("ssm"), "Ssm")
        self.assertEqual(normalise("dynamodb"), "DynamoDb")
        from botocore.exceptions import ClientError

        throttled = ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "DeleteStack")
        name = aws_sdk.StateTaskServiceAwsSdk._normalise_exception_name("CloudFormation", throttled)
        self.assertEqual(name, "CloudFormation.ThrottlingException")
        limited = ClientError({"Error": {"Code": "TooManyRequestsException"}}, "CreateAccount")
        name = aws_sdk.StateTaskServiceAwsSdk._normalise_exception_name("Organizations", limited)
        self.assertEqual(name, "Organizations.TooManyRequestsException")
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
            state_task_service_dynamodb as dynamodb,
        )

        failed = ClientError(
            {"Error": {"Code": "InternalServerError", "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": 500, "RequestId": "r"}},
            "PutItem",
        )
        error, _ = dynamodb.StateTaskServiceDynamoDB._error_cause_from_client_error(failed)
        self.assertEqual(error, "DynamoDB.InternalServerErrorException")

        import types

        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
            state_task_service_sfn as sfn,
        )

        task = sfn.StateTaskServiceSfn.__new__(sfn.StateTaskServiceSfn)
        task.resource = types.SimpleNamespace(service_name="states", api_name="sfn")
        task._get_sfn_resource = lambda: "startExecution"
        task._get_sfn_resource_type = lambda: "states"
        env = types.SimpleNamespace(next_state_name="S", event_history_context=types.SimpleNamespace(source_event_id=1))
        throttled = ClientError(
            {"Error": {"Code": "ThrottlingException", "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": 400, "RequestId": "r"}},
            "StartExecution",
        )
        event = sfn.StateTaskServiceSfn._from_error(task, env, throttled)
        self.assertEqual(event.error_name.error_name, "StepFunctions.ThrottlingException")

    def test_a_call_without_an_answer_is_the_services_sdk_client_exception(self):
        import types

        import botocore.exceptions as boto_errors
        from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState

        lambda_task = types.SimpleNamespace(resource=types.SimpleNamespace(service_name="lambda"))
        sdk_task = types.SimpleNamespace(
            resource=types.SimpleNamespace(service_name="aws-sdk", api_name="cloudformation")
        )
        lost = boto_errors.ConnectionClosedError(endpoint_url="http://127.0.0.1:4566")
        env = types.SimpleNamespace(
            next_state_name="PlanChangeSet",
            event_history_context=types.SimpleNamespace(source_event_id=1),
        )
        event = ExecutionState._from_error(lambda_task, env, lost)
        self.assertEqual(event.error_name.error_name, "Lambda.SdkClientException")
        event = ExecutionState._from_error(sdk_task, env, lost)
        self.assertEqual(event.error_name.error_name, "CloudFormation.SdkClientException")

    def test_a_task_failure_keeps_its_cause(self):
        import types

        from moto.stepfunctions import responses

        received = {}
        backend = types.SimpleNamespace(
            send_task_failure=lambda token, error=None, cause=None: received.update(
                token=token, error=error, cause=cause
            )
        )
        parameters = {"taskToken": "t", "error": "ChangeSetRejected", "cause": "rejected by a@b.c"}
        response = types.SimpleNamespace(stepfunction_backend=backend, _get_param=parameters.get)
        responses.StepFunctionResponse.send_task_failure(response)
        self.assertEqual(received, {"token": "t", "error": "ChangeSetRejected", "cause": "rejected by a@b.c"})

    def test_elbv2_is_known_by_its_boto_name(self):
        overrides = moto_server.service_task.StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES
        self.assertEqual(overrides["elasticloadbalancingv2"], "elbv2")
        self.assertEqual(overrides["sfn"], "stepfunctions")


class JsonPath(unittest.TestCase):
    data = {"T": [{"H": {"S": "healthy"}}], "E": []}

    def test_a_wildcard_matching_once_still_yields_a_list(self):
        self.assertEqual(moto_server.extract_json("$.T[*].H.S", self.data), ["healthy"])

    def test_a_wildcard_matching_nothing_yields_an_empty_list(self):
        self.assertEqual(moto_server.extract_json("$.E[*].H", self.data), [])

    def test_definite_paths_are_unchanged(self):
        self.assertEqual(moto_server.extract_json("$.T[0].H.S", self.data), "healthy")
        with self.assertRaises(moto_server.json_path.NoSuchJsonPathError):
            moto_server.extract_json("$.missing", self.data)

    def test_every_interpreter_module_uses_the_mended_function(self):
        from moto.stepfunctions.parser.asl.component.intrinsic.argument import argument
        from moto.stepfunctions.parser.asl.eval import states

        self.assertIs(argument.extract_json, moto_server.extract_json)
        self.assertIs(states.extract_json, moto_server.extract_json)


if __name__ == "__main__":
    unittest.main()


class ModelData(unittest.TestCase):
    def test_an_attribute_that_raises_is_skipped_not_fatal(self):
        import json

        from moto.core.model_instances import model_data
        from moto.moto_api._internal.responses import MotoAPIResponse

        class Model:
            instances_tracked = []

            def __init__(self):
                self.subject = "[stackgate] Approve"

            @property
            def docker_client(self):
                raise RuntimeError("no Docker here")

        Model.instances_tracked.append(Model())
        model_data.setdefault("test-service", {})["Model"] = Model
        try:
            status, _, body = MotoAPIResponse().model_data(None, "", {})
        finally:
            del model_data["test-service"]
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["test-service"]["Model"], [{"subject": "[stackgate] Approve"}])


class StopExecution(unittest.TestCase):
    def test_a_stopped_execution_is_aborted_at_once_and_stays_so(self):
        import datetime

        from moto.stepfunctions.parser.api import ExecutionStatus
        from moto.stepfunctions.parser.backend import execution as backend

        execution = backend.Execution.__new__(backend.Execution)
        execution.exec_worker = None  # what stop() asks to stop: nothing here
        execution.exec_status = ExecutionStatus.RUNNING
        execution.stop_date = None
        when = datetime.datetime(2026, 12, 2, tzinfo=datetime.timezone.utc)
        execution.stop(stop_date=when, error=None, cause=None)
        self.assertEqual(execution.exec_status, ExecutionStatus.ABORTED)
        self.assertEqual(execution.stop_date, when)
        # The waiting thread, ending later, changes nothing.
        backend.BaseExecutionWorkerCommunication(execution)._reflect_execution_status()
        self.assertEqual(
            (execution.exec_status, execution.stop_date), (ExecutionStatus.ABORTED, when)
        )


class StackOperationEvents(unittest.TestCase):
    """ExecuteChangeSet and DeleteStack with a ClientRequestToken: the stack is in progress for
    STACKGATE_STACK_SECONDS, then settles, and CloudFormation's Stack Status Change event is on the
    default bus (read here through an SQS target, which moto delivers to)."""

    TOPIC = "Resources:\n  Events:\n    Type: AWS::SNS::Topic\n"

    @classmethod
    def setUpClass(cls):
        moto_server.mend_stack_operation_events()
        moto_server.mend_lambda_targets()
        moto_server.STACK_SECONDS = 0.3

    def test_in_progress_names_the_operation_under_way(self):
        self.assertEqual(moto_server.in_progress("UPDATE_COMPLETE"), "UPDATE_IN_PROGRESS")
        self.assertEqual(moto_server.in_progress("DELETE_COMPLETE"), "DELETE_IN_PROGRESS")
        self.assertEqual(moto_server.in_progress("ROLLBACK_COMPLETE"), "ROLLBACK_IN_PROGRESS")

    def test_an_operation_is_under_way_then_settles_with_its_event(self):
        import time

        import boto3
        from moto import mock_aws

        with mock_aws():
            cfn = boto3.client("cloudformation", region_name="us-east-1")
            sqs = boto3.client("sqs", region_name="us-east-1")
            events = boto3.client("events", region_name="us-east-1")
            queue = sqs.create_queue(QueueName="ends")["QueueUrl"]
            queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            events.put_rule(
                Name="ends",
                EventPattern=json.dumps({"source": ["aws.cloudformation"], "detail-type": ["CloudFormation Stack Status Change"]}),
            )
            # A Lambda target beside it (delivered through the front door, which is not running
            # here): moto raised on it, and delivered to no target of the rule.
            events.put_targets(
                Rule="ends",
                Targets=[
                    {"Id": "q", "Arn": queue_arn},
                    {"Id": "f", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:stack-status"},
                ],
            )

            def delivered():
                messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
                return [json.loads(m["Body"]) for m in messages]

            def status(stack):
                return cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]

            def stack_events(stack):
                listed = cfn.describe_stack_events(StackName=stack)["StackEvents"]
                return [f"{e['LogicalResourceId']} {e['ResourceStatus']}" for e in reversed(listed)]

            cfn.create_change_set(StackName="held", ChangeSetName="c1", ChangeSetType="CREATE", TemplateBody=self.TOPIC)
            cfn.execute_change_set(StackName="held", ChangeSetName="c1", ClientRequestToken="stackgate-c1")
            stack_id = cfn.describe_stacks(StackName="held")["Stacks"][0]["StackId"]
            self.assertEqual(status("held"), "CREATE_IN_PROGRESS")
            # The resources' events as CloudFormation writes them, the ends only once it settles.
            self.assertEqual(stack_events("held")[-2:], ["held CREATE_IN_PROGRESS", "Events CREATE_IN_PROGRESS"])
            self.assertEqual(delivered(), [])
            time.sleep(0.6)
            self.assertEqual(status("held"), "CREATE_COMPLETE")
            self.assertEqual(stack_events("held")[-2:], ["Events CREATE_COMPLETE", "held CREATE_COMPLETE"])
            [event] = delivered()
            self.assertEqual(event["source"], "aws.cloudformation")
            self.assertEqual(event["detail-type"], "CloudFormation Stack Status Change")
            self.assertEqual(event["resources"], [stack_id])
            self.assertEqual(
                event["detail"],
                {
                    "stack-id": stack_id,
                    "status-details": {"status": "CREATE_COMPLETE", "status-reason": ""},
                    "client-request-token": "stackgate-c1",
                },
            )

            cfn.delete_stack(StackName=stack_id, ClientRequestToken="stackgate-d1")
            self.assertEqual(status(stack_id), "DELETE_IN_PROGRESS")
            time.sleep(0.6)
            self.assertEqual(status(stack_id), "DELETE_COMPLETE")
            [event] = delivered()
            self.assertEqual(event["detail"]["status-details"]["status"], "DELETE_COMPLETE")
            self.assertEqual(event["detail"]["client-request-token"], "stackgate-d1")

            # Without a token (a test's own set-up): complete at once, and the event still goes out.
            cfn.create_change_set(StackName="quick", ChangeSetName="c1", ChangeSetType="CREATE", TemplateBody=self.TOPIC)
            cfn.execute_change_set(StackName="quick", ChangeSetName="c1")
            self.assertEqual(status("quick"), "CREATE_COMPLETE")
            [event] = delivered()
            self.assertNotIn("client-request-token", event["detail"])
