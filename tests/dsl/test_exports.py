"""The public surface of `dsl` is deliberate: adding or removing a name is a decision."""

import inspect

import dsl


def test_all_is_pinned() -> None:
    assert dsl.__all__ == [
        "LIMITS",
        "PLAN_VERSION",
        "AllOf",
        "AnyOf",
        "CombinedInput",
        "CombinedSource",
        "Compare",
        "Condition",
        "ContextShape",
        "Decision",
        "DslCostError",
        "DslError",
        "DslStateError",
        "DslValidationError",
        "InputSpec",
        "Limits",
        "NotOf",
        "Plan",
        "PlanStep",
        "Problem",
        "PromptInput",
        "ResultInput",
        "RetryPolicy",
        "Scheduler",
        "SkipReason",
        "Step",
        "StepOptions",
        "StepResult",
        "StepState",
        "StepStatus",
        "TemplateInput",
        "TemplatePart",
        "Undecided",
        "Workflow",
        "WorkflowOptions",
        "build_context",
        "compile",
        "evaluate",
        "json_schema",
        "load",
        "parse_result",
        "render_prompt",
    ]


def test_every_exported_class_and_function_is_documented() -> None:
    for name in dsl.__all__:
        member = getattr(dsl, name)
        if inspect.isclass(member) or inspect.isfunction(member):
            assert member.__doc__ and not member.__doc__.startswith(f"{name}("), name


def test_error_tree() -> None:
    assert issubclass(dsl.DslValidationError, dsl.DslError)
    assert issubclass(dsl.DslStateError, dsl.DslError)
    assert dsl.errors.__doc__ is not None and "DslValidationError" in dsl.errors.__doc__


def test_no_io_library_is_imported() -> None:
    import ast
    import pathlib

    banned = {"aiohttp", "redis", "asyncpg", "socket", "httpx", "requests", "os", "pathlib"}
    root = pathlib.Path(dsl.__file__).parent
    for source in root.glob("*.py"):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in banned, f"{source.name} imports {name}"
