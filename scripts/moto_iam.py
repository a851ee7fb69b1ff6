"""IAM enforced in the local stack's moto server, for the functions and the state machines: each
function signs with an access key of its own (`stackgate-function-<binary>`, from the workspace's cargo-lambda metadata), the local
deploy step tags the function's role with that key (`stackgate:local-access-key`, from the template as
SAM expands it), and every call signed with it is evaluated against that role's policies, as AWS
evaluates a Lambda function's execution role; a state machine's SDK calls are signed with its role's
key (`stackgate-role-<name>`) and evaluated the same way. Any other key (the operator's, the tests' `test`, moto's
own interpreter) keeps full access, as an administrator's would.

What moto gets wrong is mended here (docs/local-stack.md, IAM): most services authorize against the
resource `*`, so a statement scoped to an ARN is evaluated on its action alone there (an Allow
applies; a Deny only when it is on `*`); actions match case-insensitively; NotResource is honoured; a
condition moto cannot evaluate does not deny; denials reach JSON clients in the shape AWS sends.
`STACKGATE_IAM=off` switches enforcement off."""

import contextvars
import json
import os
import re

ACCESS_KEY_PREFIX = "stackgate-function-"
ACCESS_KEY_TAG = "stackgate:local-access-key"
# moto's interpreter signs a state machine's calls with this prefix and its role's name.
ROLE_KEY_PREFIX = "stackgate-role-"

# Where the name moto gives an action (its signing name and operation) is not IAM's.
ACTION_NAMES = {"lambda:Invoke": "lambda:InvokeFunction"}
SERVICE_PREFIXES = {"monitoring": "cloudwatch"}


def enforced() -> bool:
    return os.environ.get("STACKGATE_IAM", "enforce") != "off"


def iam_action(action: str) -> str:
    service, _, name = action.partition(":")
    action = f"{SERVICE_PREFIXES.get(service, service)}:{name}"
    return ACTION_NAMES.get(action, action)


def role_for_key(access_key_id: str):
    """(backend, role) of the one role tagged with this key; None when no role or several carry it
    (a key must never pick one of two roles)."""
    from moto.iam.models import iam_backends

    found = [
        (backend, role)
        for account in list(iam_backends.values())
        for backend in list(account.values())
        for role in list(backend.roles.values())
        if tag_value(role.tags, ACCESS_KEY_TAG) == access_key_id
    ]
    return found[0] if len(found) == 1 else None


def tag_value(tags, key):
    """A tag's value; moto keeps a role's tags as a dict of {Key, Value} or as a list of them."""
    entries = tags.values() if isinstance(tags, dict) else (tags or [])
    return next((t.get("Value") for t in entries if t.get("Key") == key), None)


def role_named(name: str):
    """(backend, role) of the role with this name, or None."""
    from moto.iam.models import iam_backends

    for account in list(iam_backends.values()):
        for backend in list(account.values()):
            for role in list(backend.roles.values()):
                if role.name == name:
                    return backend, role
    return None


def role_for(access_key_id: str):
    """(backend, role) a key signs for: a function's (by the tag) or a state machine's (by name)."""
    if access_key_id.startswith(ACCESS_KEY_PREFIX):
        return role_for_key(access_key_id)
    if access_key_id.startswith(ROLE_KEY_PREFIX):
        return role_named(access_key_id[len(ROLE_KEY_PREFIX):])
    return None


def enforced_key(access_key_id) -> bool:
    return bool(access_key_id) and access_key_id.startswith((ACCESS_KEY_PREFIX, ROLE_KEY_PREFIX))


class RoleSessionKey:
    """The identity of a call signed with a function's or a state machine's key: a session of its
    role."""

    def __init__(self, backend, role, access_key_id):
        self.backend = backend
        self.account_id = backend.account_id
        self.partition = backend.partition
        self._role = role
        self._owner_role_name = role.name
        self._session_name = access_key_id.split("-", 2)[2]
        self._access_key_id = access_key_id
        self.arn = f"arn:{self.partition}:sts::{self.account_id}:assumed-role/{role.name}/{self._session_name}"

    def collect_policies(self):
        attached, _ = self.backend.list_attached_role_policies(self._owner_role_name)
        return list(self._role.policies.values()) + list(attached)


def mend_iam_enforcement() -> None:
    if not enforced():
        return
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam import access_control as ac

    original_create_access_key = ac.create_access_key

    def create_access_key(account_id, partition, access_key_id, headers):
        if enforced_key(access_key_id):
            found = role_for(access_key_id)
            if found is None:  # a function or role the template does not give: nothing allowed
                raise ac.CreateAccessKeyFailure(reason="InvalidId")
            return RoleSessionKey(found[0], found[1], access_key_id)
        return original_create_access_key(account_id, partition, access_key_id, headers)

    ac.create_access_key = create_access_key

    def _authenticate_and_authorize_action(self, iam_request_cls, resource="*"):
        if not enforced_key(signing_key(self.headers)):
            return
        if resource == "*":
            resource = resource_of(self) or "*"
        context = _CONDITIONS.set(condition_context(self, resource))
        try:
            authorize(self, iam_request_cls, resource)
        finally:
            _CONDITIONS.reset(context)

    def authorize(self, iam_request_cls, resource):
        path = self.raw_path
        query = getattr(self, "parsed_url", None)
        if query is not None and query.query:
            path += "?" + query.query
        try:
            request = iam_request_cls(
                account_id=self.current_account, method=self.method, path=path, data=self.data,
                body=self.raw_body, headers=self.headers, action=self._get_action(),
            )
            request._action = iam_action(request._action)
            request.check_action_permitted(resource)
        except Exception as error:  # moto's auth errors are _RESTError subclasses
            from moto.core.exceptions import _RESTError

            if isinstance(error, _RESTError):
                raise in_protocol_shape(self, error) from None
            raise

    ActionAuthenticatorMixin._authenticate_and_authorize_action = _authenticate_and_authorize_action


def mend_state_machine_credentials() -> None:
    """moto's interpreter signs every call of a state machine with the fixed key `ak` (its
    boto_client_for ignores the execution's role): sign with the role's key instead, so that the role's
    policies apply to the tasks' SDK calls. The front door answers Lambda invocations itself, so
    `lambda:InvokeFunction` stays checked statically (`stackgate-local check-iam`)."""
    if not enforced():
        return
    import importlib
    import pkgutil

    import boto3
    import moto.stepfunctions.parser as interpreter
    from moto.stepfunctions.parser.asl.utils import boto_client as clients

    original = clients.boto_client_for

    def boto_client_for(region, service, state_credentials=None):
        client = original(region, service, state_credentials)
        role_arn = getattr(state_credentials, "role_arn", None) or ""
        name = role_arn.rsplit("/", 1)[-1]
        if not name or role_named(name) is None:
            return client  # a state machine without a role of the template keeps moto's own key
        return boto3.client(
            service_name=service, region_name=region, endpoint_url=client.meta.endpoint_url,
            aws_access_key_id=ROLE_KEY_PREFIX + name, aws_secret_access_key="sk",
            config=client.meta.config,
        )

    for module in pkgutil.walk_packages(interpreter.__path__, interpreter.__name__ + "."):
        try:
            loaded = importlib.import_module(module.name)
        except ImportError:
            continue
        if getattr(loaded, "boto_client_for", None) is original:
            loaded.boto_client_for = boto_client_for
    clients.boto_client_for = boto_client_for


# Where moto names no resource, the ARN IAM would evaluate, from the request's own parameter
# (service → operation → (parameter, ARN from its value)); an operation not listed stays `*`.
def _stack(value, region, account):
    return value if value.startswith("arn:") else f"arn:aws:cloudformation:{region}:{account}:stack/{value}/*"


def _ssm_parameter(value, region, account):
    return f"arn:aws:ssm:{region}:{account}:parameter/{value.lstrip('/')}"


def _table(value, region, account):
    return f"arn:aws:dynamodb:{region}:{account}:table/{value}"


def _rule(value, region, account):
    return f"arn:aws:events:{region}:{account}:rule/{value}"


def _as_is(value, region, account):
    return value


RESOURCES = {
    "cloudformation": {
        operation: ("StackName", _stack)
        for operation in ("CreateChangeSet", "DescribeChangeSet", "DeleteChangeSet", "ExecuteChangeSet",
                          "DescribeStacks", "DescribeStackEvents", "ListStackResources", "GetTemplate",
                          "DetectStackDrift", "DescribeStackResourceDrifts", "DeleteStack")
    } | {
        "TagResource": ("ResourceARN", _as_is),
        "UntagResource": ("ResourceARN", _as_is),
    },
    "dynamodb": {
        operation: ("TableName", _table)
        for operation in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan")
    },
    "sns": {"Publish": ("TopicArn", _as_is)},
    "states": {
        "StartExecution": ("stateMachineArn", _as_is),
        "DescribeExecution": ("executionArn", _as_is),
        "GetExecutionHistory": ("executionArn", _as_is),
        "StopExecution": ("executionArn", _as_is),
        "GetActivityTask": ("activityArn", _as_is),
    },
    "ssm": {
        "GetParameter": ("Name", _ssm_parameter),
        "PutParameter": ("Name", _ssm_parameter),
    },
    "events": {"EnableRule": ("Name", _rule), "DisableRule": ("Name", _rule)},
}


def resource_of(response):
    """The resource of a call, for the operations in RESOURCES; None for the others."""
    scope = _credential_scope(response.headers)
    if scope is None:
        return None
    region, service = scope[2], scope[3]
    operation = response._get_action()
    rule = RESOURCES.get(service, {}).get(operation)
    if rule is None:
        return None
    name, arn = rule
    value = None
    if response.headers.get("X-Amz-Target"):
        body = response.body
        try:
            # Some services' responses hold the body already parsed (DynamoDB).
            body = body if isinstance(body, dict) else json.loads(body or "{}")
            value = body.get(name)
        except (TypeError, ValueError, AttributeError):
            value = None
    else:
        values = response.querystring.get(name)
        value = values[0] if isinstance(values, list) and values else values
    if not isinstance(value, str) or not value:
        return None
    return arn(value, region, response.current_account)


# The condition keys evaluated here, and their values for the call being authorized: a stack's tags
# (`aws:ResourceTag/…`) and the tags a call asks for (`aws:RequestTag/…`), for CloudFormation, where
# they hold the managed-stack rule. Any other key moto cannot know and is taken as met.
_CONDITIONS = contextvars.ContextVar("stackgate_conditions", default=None)
EVALUATED_KEYS = ("aws:resourcetag/", "aws:requesttag/")


def condition_context(response, resource):
    scope = _credential_scope(response.headers)
    if scope is None or scope[3] != "cloudformation":
        return {}
    region = scope[2]
    context = {"families": EVALUATED_KEYS}
    action = (response.querystring or {}).get("Action", [""])
    action = action[0] if isinstance(action, list) else action
    # A deleted stack's tags count only for what AWS still does to a deleted stack: read it, or
    # delete it again (a no-op).
    with_deleted = action in DELETED_STACK_ACTIONS
    for key, value in stack_tags(resource, region, response.current_account, with_deleted).items():
        context[f"aws:resourcetag/{key.lower()}"] = [value]
    for key, value in request_tags(response.querystring).items():
        context[f"aws:requesttag/{key.lower()}"] = [value]
    return context


DELETED_STACK_ACTIONS = ("DeleteStack", "DescribeStacks", "DescribeStackEvents",
                         "DescribeStackResources", "ListStackResources", "GetTemplate")


def stack_tags(resource, region, account, with_deleted=False):
    """The tags of the stack a CloudFormation ARN names (by id, else by name); {} for none."""
    match = re.match(r"^arn:[^:]+:cloudformation:[^:]*:[^:]*:stack/([^/]+)/(.+)$", resource or "")
    if not match:
        return {}
    from moto.cloudformation.models import cloudformation_backends

    try:
        backend = cloudformation_backends[account][region]
    except KeyError:
        return {}
    name, stack_id = match.groups()
    stacks = list(backend.stacks.values())
    # A deleted stack keeps its tags for a call that names it by id, as in AWS (DescribeStacks shows
    # them): a DeleteStack retried after its answer was lost is judged on the stack it deleted.
    deleted = list(getattr(backend, "deleted_stacks", {}).values()) if with_deleted else []
    found = (
        [s for s in stacks + deleted if s.stack_id == resource]
        or [s for s in stacks if s.name == name]
    )
    if len(found) != 1:
        # None, or several live stacks under one name (moto acts on them all): no tags to trust.
        return {}
    tags = found[0].tags
    return tags if isinstance(tags, dict) else {t["Key"]: t["Value"] for t in tags}


def request_tags(querystring):
    """`Tags.member.N.Key` / `.Value` of a query-protocol call."""
    tags = {}
    for name, values in (querystring or {}).items():
        match = re.match(r"^Tags\.member\.(\d+)\.Key$", name)
        if match:
            value = querystring.get(f"Tags.member.{match.group(1)}.Value", [""])
            tags[values[0]] = value[0] if isinstance(value, list) else value
    return tags


def conditions_met(statement, context):
    """IAM's condition evaluation for the keys in `context["families"]`: an absent key matches no
    positive operator; an operator this code does not know fails closed, which for a Deny means it
    applies. Other keys: met."""
    families = context.get("families", ())
    deny = statement.get("Effect") == "Deny"
    for operator, pairs in (statement.get("Condition") or {}).items():
        for key, expected in pairs.items():
            name = key.lower()
            if not name.startswith(families):
                continue
            met = condition_met(operator, expected, context.get(name))
            if met is None:  # not an operator this code knows
                met = deny
            if not met:
                return False
    return True


def condition_met(operator, expected, actual):
    """One operator on one key; None for an operator this code does not know."""
    expected = expected if isinstance(expected, list) else [expected]
    for prefix in ("ForAnyValue:", "ForAllValues:"):  # each key here holds one value
        operator = operator[len(prefix):] if operator.startswith(prefix) else operator
    if operator == "Null":
        return any(str(e).lower() == ("true" if actual is None else "false") for e in expected)
    if_exists = operator.endswith("IfExists")
    base = operator[: -len("IfExists")] if if_exists else operator
    negated = base.startswith("StringNot")
    base = base.replace("StringNot", "String", 1)
    if base == "StringEquals":
        match = lambda a, e: a == e  # noqa: E731
    elif base == "StringEqualsIgnoreCase":
        match = lambda a, e: a.lower() == e.lower()  # noqa: E731
    elif base == "StringLike":
        match = lambda a, e: bool(_glob(e).match(a))  # noqa: E731
    else:
        return None
    if actual is None:
        return if_exists or negated
    matched = any(match(a, str(e)) for a in actual for e in expected)
    return not matched if negated else matched


def _glob(text):
    return re.compile("^" + re.escape(text).replace(r"\*", ".*").replace(r"\?", ".") + "$")


def _credential_scope(headers):
    authorization = headers.get("Authorization") or ""
    scope = authorization.partition("Credential=")[2].partition(",")[0].split("/")
    return scope if len(scope) >= 5 else None


def signing_key(headers):
    authorization = headers.get("Authorization") or ""
    scope = authorization.partition("Credential=")[2].partition(",")[0]
    key = scope.split("/")[0]
    return key or None


def in_protocol_shape(response, error):
    """moto answers auth errors in the query protocol's XML, which JSON clients cannot read: JSON and
    REST-JSON services get {"__type": "AccessDeniedException", "message": ...}, as AWS sends it."""
    from moto.core.utils import get_service_model

    headers = response.headers
    json_protocol = bool(headers.get("X-Amz-Target")) or (headers.get("Content-Type") or "").startswith(
        "application/x-amz-json")
    if not json_protocol:
        try:
            protocol = get_service_model(response.boto3_service_name).protocol
        except Exception:  # noqa: BLE001 - a service without a model keeps moto's XML
            return error
        if protocol == "query":
            return in_query_shape(error)
        if protocol != "rest-json":
            return error  # S3's own errors already have its shape
    shaped = error.to_json()
    if shaped.error_type == "AccessDenied":
        shaped.error_type = "AccessDeniedException"
        shaped.description = json.dumps({"__type": "AccessDeniedException", "message": error.message})
    return shaped


def in_query_shape(error):
    """The query protocol's error: moto wraps it in <Errors>, which AWS does not (and the Rust SDK
    then finds no code)."""
    from xmltodict import unparse

    detail = {"Type": "Sender", "Code": error.error_type, "Message": error.message}
    error.description = unparse({"ErrorResponse": {"Error": detail, "RequestId": "stackgate-local"}},
                                full_document=True)
    return error


def mend_policy_evaluation() -> None:
    from moto.iam import access_control as ac

    result = ac.PermissionResult

    def pattern(text, ignore_case):
        regex = re.escape(text).replace(r"\*", ".*").replace(r"\?", ".")
        return re.compile(f"^{regex}$", re.IGNORECASE if ignore_case else 0)

    def matches(patterns, value, ignore_case):
        patterns = patterns if isinstance(patterns, list) else [patterns]
        return any(pattern(p, ignore_case).match(value) for p in patterns)

    def is_action_permitted(self, action, resource="*", principal=None, incoming_condition_values=None):
        statement = self._statement
        if "NotAction" in statement:
            concerned = not matches(statement["NotAction"], action, True)
        else:
            concerned = matches(statement.get("Action", []), action, True)
        if not concerned or self.is_unknown_principal(statement.get("Principal")):
            return result.NEUTRAL
        context = _CONDITIONS.get()
        if context is None:  # not a call of a role of the template: moto's own evaluation
            if not self._check_conditions(incoming_condition_values):
                return result.NEUTRAL
        elif not conditions_met(statement, context):
            return result.NEUTRAL
        allow = statement.get("Effect") == "Allow"
        # moto names no resource ("*") for most services: a scoped statement is judged by its action.
        unknown = resource == "*"
        if "Resource" in statement:
            if unknown:
                applies = allow or matches(statement["Resource"], "*", False)
            else:
                applies = matches(statement["Resource"], resource, False)
        elif "NotResource" in statement:
            applies = allow if unknown else not matches(statement["NotResource"], resource, False)
        else:  # a trust policy
            applies = True
        if not applies:
            return result.NEUTRAL
        return result.PERMITTED if allow else result.DENIED

    ac.IAMPolicyStatement.is_action_permitted = is_action_permitted
