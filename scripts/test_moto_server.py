"""Unit tests of scripts/moto-server.py (run by scripts/test.sh with the moto venv's python)."""

import importlib.util
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
