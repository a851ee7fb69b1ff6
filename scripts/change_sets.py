"""What a change set changes, computed the way CloudFormation computes it, for the local stack.

moto lists a resource as `Modify` whenever its template text differs, never says whether it is
replaced, and misses changes made through parameters: a new hash key given as a parameter replaced a
DynamoDB table locally while the change set called it a plain update. This module compares the
stack's current template with the change set's, both resolved (parameters, conditions, mappings and
the intrinsic functions over them), and answers as CloudFormation does:

- a changed create-only property (the resource type's `createOnlyProperties` in CloudFormation's
  resource provider schemas, as shipped by cfn-lint) -> `Replacement: True`, `RequiresRecreation:
  Always`; a conditionally create-only one -> `Conditional` / `Conditionally`;
- a value known only when the change set executes (a reference to a resource being replaced or
  changed) -> `Evaluation: Dynamic`, and `{{changeSet:KNOWN_AFTER_APPLY}}` as its new value;
- unchanged resources are left out; `PolicyAction` follows `DeletionPolicy`/`UpdateReplacePolicy`.

What it cannot know it says: attribute values (`Fn::GetAtt`) are compared by what they refer to,
not by value, and a type without a schema (not `Custom::`) may be replaced (`Conditionally`).
"""

from __future__ import annotations

import base64
import datetime
import functools
import json
import pathlib
import re

import yaml

UNKNOWN_TEXT = "{{changeSet:KNOWN_AFTER_APPLY}}"
NO_CHANGES = (
    "The submitted information didn't contain changes. "
    "Submit different information to create a change set."
)
RESOURCE_ATTRIBUTES = ("Metadata", "CreationPolicy", "UpdatePolicy", "DeletionPolicy", "UpdateReplacePolicy")


class Unknown:
    """A value known only when the change set executes; never equal to anything."""

    def __init__(self, source: str, entity: str):
        self.source = source  # ResourceReference | ResourceAttribute
        self.entity = entity

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Unknown({self.source}, {self.entity})"


class Symbol:
    """A value the local stack cannot compute but can compare: the same expression over the same,
    unchanged inputs is the same value (an attribute of an unchanged resource, `Fn::GetAZs`)."""

    def __init__(self, text: str):
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Symbol) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"Symbol({self.text})"


NO_VALUE = object()  # AWS::NoValue: the property or list item is left out


# --- Templates ----------------------------------------------------------------------------------


class _TemplateLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (`!Ref x` -> `{"Ref": "x"}`)."""


def _short_form(loader: _TemplateLoader, suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_TemplateLoader.add_multi_constructor("!", _short_form)
# CloudFormation reads YAML 1.1 (`yes`, `on` are booleans) but keeps dates as the strings written.
_TemplateLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _string_keys(value: object) -> object:
    """Mapping keys as CloudFormation reads them: strings (`200:` and `123456789012:` included)."""
    if isinstance(value, dict):
        return {_scalar(k): _string_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_string_keys(v) for v in value]
    return value


class Unsupported(Exception):
    """A template the local stack cannot compute a change set for; the change set fails with this."""


def load_template(text: object) -> dict:
    """A template body (JSON or YAML, short forms included) as a dict; empty when there is none."""
    if isinstance(text, dict):
        return text
    if not text:
        return {}
    try:
        loaded = json.loads(text)
    except ValueError:
        loaded = yaml.load(text, Loader=_TemplateLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(loaded, dict):
        return {}
    loaded = _string_keys(loaded)
    if loaded.get("Transform"):
        raise Unsupported("its Transform (SAM, a macro, language extensions) is not expanded locally")
    resources = loaded.get("Resources") or {}
    if not isinstance(resources, dict) or not all(isinstance(r, dict) for r in resources.values()):
        raise Unsupported("a resource that is not a mapping (Fn::ForEach?) is not expanded locally")
    return loaded


# --- Resource provider schemas --------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _provider_index(region: str) -> tuple[pathlib.Path, dict]:
    import cfnlint

    schemas = pathlib.Path(cfnlint.__file__).parent / "data" / "schemas"
    index = schemas / "providers" / f"{region}.json"
    if not index.exists():
        index = schemas / "providers" / "us-east-1.json"
    return schemas / "resources", json.loads(index.read_text())


@functools.lru_cache(maxsize=None)
def create_only(resource_type: str, region: str = "us-east-1") -> tuple[frozenset, frozenset] | None:
    """(create-only, conditionally create-only) property pointers of a type; None without a schema."""
    resources, index = _provider_index(region)
    digest = index.get(resource_type)
    if digest is None:
        return None
    schema = json.loads((resources / f"{digest}.json").read_text())
    return (
        frozenset(schema.get("createOnlyProperties", [])),
        frozenset(schema.get("conditionalCreateOnlyProperties", [])),
    )


def _is_custom(resource_type: str) -> bool:
    return resource_type.startswith("Custom::") or resource_type == "AWS::CloudFormation::CustomResource"


def requires_recreation(resource_type: str, name: str, before: object, after: object, schemas) -> str:
    """`Never`, `Conditionally` or `Always`: what changing property `name` from `before` to `after`
    does to the resource, by its schema."""
    if _is_custom(resource_type):
        return "Always" if name == "ServiceToken" else "Never"
    known = schemas(resource_type)
    if known is None:
        return "Conditionally"
    always, conditionally = known
    for pointers, answer in ((always, "Always"), (conditionally, "Conditionally")):
        for pointer in pointers:
            parts = pointer.split("/")[2:]  # "/properties/Name/Sub" -> ["Name", "Sub"]
            if not parts or parts[0] != name:
                continue
            if len(parts) == 1 or "*" in parts:
                return answer
            if _at(before, parts[1:]) != _at(after, parts[1:]) or _has_unknown(_at(after, parts[1:])):
                return answer
    return "Never"


def _at(value: object, path: list) -> object:
    for part in path:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


# --- Resolution -----------------------------------------------------------------------------------


def _scalar(value: object) -> object:
    """CloudFormation hands every scalar to a resource as a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return value


def _has_unknown(value: object) -> bool:
    return _first_unknown(value) is not None


def _first_unknown(value: object) -> Unknown | None:
    if isinstance(value, Unknown):
        return value
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            found = _first_unknown(item)
            if found is not None:
                return found
    return None


def _is_plain(value: object) -> bool:
    if isinstance(value, (Unknown, Symbol)):
        return False
    if isinstance(value, dict):
        return all(_is_plain(v) for v in value.values())
    if isinstance(value, list):
        return all(_is_plain(v) for v in value)
    return True


def render(value: object) -> object:
    """A resolved value as JSON: unknown values as CloudFormation writes them."""
    if isinstance(value, Unknown):
        return UNKNOWN_TEXT
    if isinstance(value, Symbol):
        return value.text
    if isinstance(value, dict):
        return {k: render(v) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v) for v in value]
    return value


class Side:
    """One side of the comparison: a template, its parameters, and what its references resolve to."""

    def __init__(self, template: dict, given: dict, pseudo: dict, ref_resource, get_att, ssm=None):
        self.template = template
        self.pseudo = pseudo
        self.ref_resource = ref_resource  # logical id -> value
        self.get_att = get_att  # (logical id, attribute) -> value
        self.resources = template.get("Resources") or {}
        self.mappings = template.get("Mappings") or {}
        self.parameters = _parameter_values(template, given, ssm)
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str, seen: frozenset = frozenset()) -> bool | None:
        """True, False, or None when it depends on a value the local stack cannot compute."""
        if name not in self._conditions:
            definitions = self.template.get("Conditions") or {}
            if name not in definitions or name in seen:
                return False  # CloudFormation refuses such a template before any change set
            self._conditions[name] = self._truth(definitions[name], seen | {name})
        return self._conditions[name]

    def _truth(self, expression: object, seen: frozenset) -> bool | None:
        if isinstance(expression, dict) and len(expression) == 1:
            (key, args), = expression.items()
            if key == "Condition":
                return self.condition(args, seen)
            if key == "Fn::Equals" and isinstance(args, list) and len(args) == 2:
                left, right = self.resolve(args[0]), self.resolve(args[1])
                if not (_is_plain(left) and _is_plain(right)):
                    return None
                return left == right
            if key == "Fn::Not" and isinstance(args, list) and len(args) == 1:
                inner = self._truth(args[0], seen)
                return None if inner is None else not inner
            if key in ("Fn::And", "Fn::Or") and isinstance(args, list):
                values = [self._truth(a, seen) for a in args]
                decisive = key == "Fn::Or"  # a True decides an Or, a False an And
                if decisive in values:
                    return decisive
                return None if None in values else not decisive
        value = self.resolve(expression)
        return None if not _is_plain(value) else value == "true"

    def exists(self, logical_id: str) -> bool | None:
        """Whether the template makes the resource; None when its condition cannot be computed."""
        definition = self.resources.get(logical_id)
        if not isinstance(definition, dict):
            return False
        condition = definition.get("Condition")
        return True if condition is None else self.condition(condition)

    def resolve(self, value: object) -> object:
        if isinstance(value, dict):
            if len(value) == 1:
                (key, args), = value.items()
                if key == "Ref" or key.startswith("Fn::"):
                    return self._intrinsic(key, args)
            resolved = {k: self.resolve(v) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not NO_VALUE}
        if isinstance(value, list):
            return [v for v in (self.resolve(item) for item in value) if v is not NO_VALUE]
        return _scalar(value)

    def _ref(self, name: object) -> object:
        if not isinstance(name, str):
            return Symbol(f"Ref {json.dumps(render(name))}")
        if name in self.parameters:
            return self.parameters[name]
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.resources:
            return self.ref_resource(name)
        return Symbol(f"Ref {name}")

    def _intrinsic(self, key: str, args: object) -> object:
        if key == "Ref":
            return self._ref(self.resolve(args) if isinstance(args, dict) else args)
        if key == "Fn::If" and isinstance(args, list) and len(args) == 3:
            chosen = self.condition(args[0])
            if chosen is None:
                return Unknown("ParameterReference", str(args[0]))
            return self.resolve(args[1] if chosen else args[2])
        if key == "Fn::GetAtt":
            parts = args if isinstance(args, list) else str(args).split(".", 1)
            if len(parts) == 2 and isinstance(parts[0], str):
                attribute = self.resolve(parts[1])
                if isinstance(attribute, str) and parts[0] in self.resources:
                    return self.get_att(parts[0], attribute)
            return Symbol(f"GetAtt {json.dumps(render(self.resolve(parts)))}")
        if key == "Fn::Sub":
            return self._sub(args)
        resolved = self.resolve(args)
        unknown = _first_unknown(resolved)
        if unknown is not None:
            return unknown
        if _is_plain(resolved):
            computed = _compute(key, resolved, self.mappings)
            if computed is not None:
                return computed
        # Not computable here (GetAZs, ImportValue, Cidr, ...): the same expression over the same
        # inputs stands for the same value (a mapping looked up is one of the inputs).
        inputs = render(resolved)
        if key == "Fn::FindInMap" and isinstance(resolved, list) and resolved:
            inputs = [inputs, self.mappings.get(render(resolved[0])) if isinstance(resolved[0], str) else self.mappings]
        return Symbol(f"{key} {json.dumps(inputs, sort_keys=True, default=str)}")

    def _sub(self, args: object) -> object:
        if isinstance(args, list) and len(args) == 2 and isinstance(args[1], dict):
            text, variables = args[0], {k: self.resolve(v) for k, v in args[1].items()}
        else:
            text, variables = args, {}
        if not isinstance(text, str):
            return Symbol(f"Fn::Sub {json.dumps(render(self.resolve(args)))}")
        pieces: list = []
        position = 0
        for match in re.finditer(r"\$\{([^}]*)\}", text):
            pieces.append(text[position : match.start()])
            position = match.end()
            name = match.group(1)
            if name.startswith("!"):
                pieces.append("${" + name[1:] + "}")
            elif name in variables:
                pieces.append(variables[name])
            elif "." in name and name.split(".", 1)[0] in self.resources:
                pieces.append(self._intrinsic("Fn::GetAtt", name.split(".", 1)))
            else:
                pieces.append(self._ref(name))
        pieces.append(text[position:])
        pieces = [p for p in pieces if p != ""]
        unknown = _first_unknown(pieces)
        if unknown is not None:
            return unknown
        if all(isinstance(p, str) for p in pieces):
            return "".join(pieces)
        if len(pieces) == 1:
            return pieces[0]
        return Symbol("Fn::Sub " + json.dumps(render(pieces)))


def _compute(key: str, args: object, mappings: dict) -> object:
    """The value of an intrinsic function over plain values; None when it is not computed here."""
    if key == "Fn::Join" and isinstance(args, list) and len(args) == 2 and isinstance(args[1], list):
        if isinstance(args[0], str) and all(isinstance(v, str) for v in args[1]):
            return args[0].join(args[1])
    if key == "Fn::Select" and isinstance(args, list) and len(args) == 2 and isinstance(args[1], list):
        if str(args[0]).isdigit() and int(args[0]) < len(args[1]):
            return args[1][int(args[0])]
    if key == "Fn::Split" and isinstance(args, list) and len(args) == 2:
        if all(isinstance(v, str) for v in args) and args[0]:
            return args[1].split(args[0])
    if key == "Fn::FindInMap" and isinstance(args, list) and len(args) in (3, 4):
        found = _at(mappings, [str(a) for a in args[:3]])
        if found is not None:
            return _scalar(found) if not isinstance(found, (dict, list)) else found
        if len(args) == 4 and isinstance(args[3], dict) and "DefaultValue" in args[3]:
            return args[3]["DefaultValue"]
    if key == "Fn::Base64" and isinstance(args, str):
        return base64.b64encode(args.encode()).decode()
    if key == "Fn::Length" and isinstance(args, list):
        return str(len(args))
    if key == "Fn::ToJsonString":
        return json.dumps(args, separators=(",", ":"))
    if key == "Fn::Equals" and isinstance(args, list) and len(args) == 2:
        return "true" if args[0] == args[1] else "false"
    return None


def _parameter_values(template: dict, given: dict, ssm=None) -> dict:
    """Each declared parameter's value: the one given, else its default; list types as lists. An
    SSM parameter type's value is the parameter's (`ssm(name, path)`), unknown without `ssm`."""
    values = {}
    for name, declaration in (template.get("Parameters") or {}).items():
        declaration = declaration if isinstance(declaration, dict) else {}
        if name in given:
            value = given[name]
            if isinstance(value, list):
                value = ",".join(str(_scalar(v)) for v in value)
            value = _scalar(value)
        elif "Default" in declaration:
            value = _scalar(declaration["Default"])
        else:
            continue
        kind = str(declaration.get("Type", "String"))
        if kind.startswith("AWS::SSM::Parameter::"):
            value = ssm(name, value) if ssm else Unknown("ParameterReference", name)
        if isinstance(value, str) and ("List<" in kind or kind == "CommaDelimitedList"):
            value = value.split(",") if value else []
        values[name] = value
    return values


def _parameters_in(value: object, parameters: dict) -> set:
    """Names of parameters an unresolved value refers to (Ref and Fn::Sub)."""
    found: set = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str) and inner in parameters:
                found.add(inner)
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) and inner else inner
                if isinstance(text, str):
                    found |= {n for n in re.findall(r"\$\{([^}!.]*)\}", text) if n in parameters}
            found |= _parameters_in(inner, parameters)
    elif isinstance(value, list):
        for inner in value:
            found |= _parameters_in(inner, parameters)
    return found


# --- The changes ----------------------------------------------------------------------------------

_DEFAULT_SNAPSHOT = ("AWS::RDS::DBCluster",)


def deletion_policy(definition: dict, side: Side) -> str:
    """The resource's DeletionPolicy, with CloudFormation's documented defaults (RDS clusters, and
    instances outside a cluster, are snapshotted)."""
    policy = side.resolve(definition.get("DeletionPolicy"))
    if isinstance(policy, str):
        return policy
    kind = definition.get("Type")
    if kind in _DEFAULT_SNAPSHOT or (
        kind == "AWS::RDS::DBInstance" and "DBClusterIdentifier" not in (definition.get("Properties") or {})
    ):
        return "Snapshot"
    return "Delete"


def _remove_action(policy: str) -> str:
    return {"Retain": "Retain", "RetainExceptOnCreate": "Retain", "Snapshot": "Snapshot"}.get(policy, "Delete")


_KEEPS = {"Retain": "ReplaceAndRetain", "Snapshot": "ReplaceAndSnapshot"}


def _replace_action(old_def: dict, old: Side, new_def: dict, new: Side) -> str:
    """What happens to a replaced resource. Which template's `UpdateReplacePolicy` CloudFormation
    applies is not documented: the data counts as kept only when both keep it (as stackgate judges)."""
    before = _KEEPS.get(old.resolve(old_def.get("UpdateReplacePolicy")))
    after = _KEEPS.get(new.resolve(new_def.get("UpdateReplacePolicy")))
    return after if after is not None and before == after else "ReplaceAndDelete"


def _context(properties: object) -> str:
    return json.dumps({"Properties": render(properties)}, sort_keys=True)


def _modification(logical_id, old_def, new_def, old, new, schemas, physical_id):
    """The Modify change of a resource in both templates, or None when nothing changes."""
    resource_type = new_def.get("Type")
    if old_def.get("Type") != resource_type:
        # CloudFormation refuses a type change; never let one pass as an update.
        return _change("Modify", logical_id, resource_type, physical_id, "True", ["Properties"], [],
                       _replace_action(old_def, old, new_def, new), None, None)
    old_raw = old_def.get("Properties") or {}
    new_raw = new_def.get("Properties") or {}
    before = old.resolve(old_raw)
    after = new.resolve(new_raw)
    details = []
    scope = []
    for name in sorted(set(before) | set(after)):
        was, now = before.get(name, NO_VALUE), after.get(name, NO_VALUE)
        unknown = _first_unknown(now)
        if unknown is None and was == now:
            continue
        if unknown is not None:
            evaluation, source, entity = "Dynamic", unknown.source, unknown.entity
        else:
            evaluation, source, entity = "Static", "DirectModification", None
            if old_raw.get(name) == new_raw.get(name):
                changed = sorted(
                    p for p in _parameters_in(new_raw.get(name), new.parameters)
                    if old.parameters.get(p) != new.parameters.get(p)
                )
                if changed:
                    source, entity = "ParameterReference", changed[0]
        recreation = requires_recreation(
            resource_type, name, None if was is NO_VALUE else was, None if now is NO_VALUE else now, schemas
        )
        target = {
            "Attribute": "Properties",
            "Name": name,
            "RequiresRecreation": recreation,
            "Path": f"/Properties/{name}",
            "AttributeChangeType": "Add" if was is NO_VALUE else "Remove" if now is NO_VALUE else "Modify",
        }
        if was is not NO_VALUE:
            target["BeforeValue"] = json.dumps(render(was))
        if now is not NO_VALUE:
            target["AfterValue"] = json.dumps(render(now))
        detail = {"Target": target, "Evaluation": evaluation, "ChangeSource": source}
        if entity:
            detail["CausingEntity"] = entity
        details.append(detail)
        for part in ("Properties", "Tags") if name == "Tags" else ("Properties",):
            if part not in scope:
                scope.append(part)
    for attribute in RESOURCE_ATTRIBUTES:
        if old.resolve(old_def.get(attribute)) != new.resolve(new_def.get(attribute)):
            scope.append(attribute)
            details.append({
                "Target": {"Attribute": attribute, "RequiresRecreation": "Never"},
                "Evaluation": "Static",
                "ChangeSource": "DirectModification",
            })
    if resource_type == "AWS::CloudFormation::Stack" and not details:
        # The nested template may have changed: CloudFormation always lists a nested stack.
        scope.append("Properties")
        details.append({
            "Target": {"Attribute": "Properties", "RequiresRecreation": "Never"},
            "Evaluation": "Dynamic",
            "ChangeSource": "Automatic",
        })
    if not details:
        return None
    recreations = [
        (d["Target"]["RequiresRecreation"], d["Evaluation"]) for d in details
    ]
    if ("Always", "Static") in recreations:
        replacement = "True"
    elif any(r != "Never" for r, _ in recreations):
        replacement = "Conditional"
    else:
        replacement = "False"
    policy = _replace_action(old_def, old, new_def, new) if replacement != "False" else None
    return _change("Modify", logical_id, resource_type, physical_id, replacement, scope, details,
                   policy, _context(before), _context(after))


def _change(action, logical_id, resource_type, physical_id, replacement, scope, details, policy,
            before_context, after_context) -> dict:
    change = {"Action": action, "LogicalResourceId": logical_id, "ResourceType": resource_type,
              "Scope": scope, "Details": details}
    for key, value in (("PhysicalResourceId", physical_id), ("Replacement", replacement),
                       ("PolicyAction", policy), ("BeforeContext", before_context),
                       ("AfterContext", after_context)):
        if value is not None:
            change[key] = value
    return change


def compute_changes(
    old_template: dict,
    old_parameters: dict,
    new_template: dict,
    new_parameters: dict,
    pseudo: dict,
    physical_ids: dict,
    schemas=create_only,
    old_ssm=None,
    new_ssm=None,
) -> list[dict]:
    """The resource changes from the old template to the new one, each a `ResourceChange` in
    DescribeChangeSet's shape; an empty old template is a stack being created. `old_ssm` and
    `new_ssm` give SSM parameter types' values, `(parameter, path) -> value`: as deployed, and now."""
    def old_ref(logical_id):
        return physical_ids.get(logical_id) or Symbol(f"Ref {logical_id}")

    def old_att(logical_id, attribute):
        return Symbol(f"GetAtt {logical_id}.{attribute}")

    status: dict[str, str] = {}  # logical id -> Add | Modify | Replace (absent: unchanged)

    def new_ref(logical_id):
        if status.get(logical_id) in ("Add", "Replace"):
            return Unknown("ResourceReference", logical_id)
        return old_ref(logical_id)

    def new_att(logical_id, attribute):
        if logical_id in status:
            return Unknown("ResourceAttribute", f"{logical_id}.{attribute}")
        return old_att(logical_id, attribute)

    old = Side(old_template, old_parameters, pseudo, old_ref, old_att, old_ssm)
    new = Side(new_template, new_parameters, pseudo, new_ref, new_att, new_ssm)
    # A resource whose condition cannot be computed here may be added, kept or removed: its action
    # is `Dynamic`, as CloudFormation says of actions it cannot determine.
    undecided = [r for r in {**old.resources, **new.resources} if old.exists(r) is None or new.exists(r) is None]
    old_ids = [r for r in old.resources if old.exists(r) and r not in undecided]
    new_ids = [r for r in new.resources if new.exists(r) and r not in undecided]
    both = [r for r in new_ids if r in old_ids]
    for logical_id in new_ids:
        if logical_id not in old_ids:
            status[logical_id] = "Add"
    for logical_id in undecided:
        status[logical_id] = "Replace"

    # A change can make references to its resource unknown, which can change other resources:
    # repeat until nothing new changes (each round only raises a status, so this ends).
    modifications: dict = {}
    for _ in range(len(both) + 1):
        modifications = {
            r: _modification(r, old.resources[r], new.resources[r], old, new, schemas, physical_ids.get(r))
            for r in both
        }
        raised = {
            r: "Replace" if m["Replacement"] != "False" else "Modify"
            for r, m in modifications.items() if m is not None
        }
        if all(status.get(r) == s for r, s in raised.items()):
            break
        status.update(raised)

    changes = []
    for logical_id in undecided:
        definition = new.resources.get(logical_id) or old.resources[logical_id]
        changes.append(_change("Dynamic", logical_id, definition.get("Type"), physical_ids.get(logical_id),
                               None, [], [], None, None, None))
    for logical_id in new_ids:
        if logical_id in modifications:
            if modifications[logical_id] is not None:
                changes.append(modifications[logical_id])
        else:
            definition = new.resources[logical_id]
            changes.append(_change("Add", logical_id, definition.get("Type"), None, None, [], [], None,
                                   None, _context(new.resolve(definition.get("Properties") or {}))))
    for logical_id in old_ids:
        if logical_id not in new_ids:
            definition = old.resources[logical_id]
            changes.append(_change(
                "Remove", logical_id, definition.get("Type"), physical_ids.get(logical_id), None, [], [],
                _remove_action(deletion_policy(definition, old)),
                _context(old.resolve(definition.get("Properties") or {})), None,
            ))
    return changes
