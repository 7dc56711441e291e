"""``keraslab`` command line: train | sample | evaluate | export | translate | generate |
classify | embed | augment | visualize | style-transfer | plot | report | compare | list.

The parsers are generated from the declarations: the commands in
:data:`keraslab.cli.commands.COMMANDS`, and what the recipes declare
(``keraslab.recipes.specs``): ``train RECIPE`` takes the fields of that recipe's ``Config``; a
command on a run (``sample RUN``, ...) takes the options that the run's recipe declares for it.
One dispatcher runs each kind of command (:data:`DISPATCH`). Nothing here names a recipe or a
command's options.

Keras is imported only after the settings are checked and the backend is chosen (``--backend``,
else the run's backend, else ``KERAS_BACKEND``, else the recipe's measured default).

Exit codes: 0 done; 1 a bug (a traceback: please report it); 2 the user's input or environment
(one line saying what to do); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import asdict

from keraslab.cli.commands import COMMANDS, SHOW, Command, warn
from keraslab.errors import UserError

# Fastest backend measured for our jobs on CPU (benchmarks/dcgan_step.py, BENCHMARKS.md).
DEFAULT_BACKEND = "torch"
BACKENDS = ("jax", "tensorflow", "torch")
EXIT_USER_ERROR = 2
DEFAULT_RECIPE = "dcgan"


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)  # --data is not --dataset

    def error(self, message):  # one line, exit 2 (argparse would print the usage block too)
        raise UserError(f"{message} (see `{self.prog} --help`)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


# ---- parsers generated from the declarations -------------------------------------------------
def _help(opt) -> str:
    text = opt.info.help
    if opt.type != "bool" and opt.default is not None and "default" not in text:
        text += f" (default {opt.default})"
    return text


def add_options(group, settings_cls) -> None:
    """One flag per declared option of ``settings_cls`` (default None: "not given")."""
    for opt in settings_cls.options():
        kwargs = {"dest": opt.name, "default": None, "help": _help(opt)}
        if opt.type == "bool":
            kwargs["action"] = "store_false" if opt.default is True else "store_true"
        else:
            kwargs["type"] = {
                "int": _positive_int if opt.info.positive else int,
                "float": float,
            }.get(opt.type, str)
            if opt.info.choices is not None:
                kwargs["choices"] = opt.info.choices
            else:
                kwargs["metavar"] = opt.info.metavar or {"int": "N", "float": "X"}.get(
                    opt.type, "TEXT"
                )
        if opt.info.required:
            kwargs["required"] = True
        group.add_argument(*opt.flags, **kwargs)
        if opt.info.none_flag:
            flag, text = opt.info.none_flag
            group.add_argument(flag, dest=f"none_{opt.name}", action="store_true", help=text)


def given(args, settings_cls) -> dict:
    """``{field: value}`` of the options given on the command line."""
    values = {}
    for opt in settings_cls.options():
        value = getattr(args, opt.name, None)
        if value is not None:
            values[opt.name] = value
        if opt.info.none_flag and getattr(args, f"none_{opt.name}", False):
            values[opt.name] = None
    return values


def _flags(settings_cls, names) -> str:
    by_name = {o.name: o for o in settings_cls.options()}
    return ", ".join(by_name[n].flag if n in by_name else "--" + n.replace("_", "-") for n in names)


def _argv_value(argv, flag: str) -> str | None:
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def _wants_help(argv) -> bool:
    return any(a in ("-h", "--help") for a in argv)


class Target:
    """What a command line is about: the command, the recipe and (for commands on a run) the
    run and the options class of the command for its recipe."""

    def __init__(self, command=None, info=None, run=None, options=None):
        self.command, self.info, self.run, self.options = command, info, run, options


def command_options(info, command: str, run):
    """The options class of ``command`` for ``info``'s runs; one-line error when the recipe
    does not offer the command."""
    from keraslab.recipes import RECIPES
    from keraslab.runs import require_recipe

    if command in info.commands:
        return info.commands[command]
    offered = [r.name for r in RECIPES.values() if command in r.commands]
    if len(offered) == 1:
        require_recipe(run, offered[0])
    mine = list(info.commands)
    raise UserError(
        f"a {info.name} run has no `{command}` command: use `keraslab {mine[0]} RUN` "
        f"({info.name} runs offer {', '.join(mine)})."
    )


def build_parser(argv=()) -> tuple[argparse.ArgumentParser, Target]:
    """The parser for ``argv``: its command's options come from the recipe named in it (``train
    RECIPE``), or from the recipe of the run it names (``train --resume RUN``, ``sample RUN``).
    """
    from keraslab.recipes import RECIPES, recipe_info
    from keraslab.runs import open_run

    argv = list(argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    p = _Parser(prog="keraslab", description="Advanced and generative deep learning on Keras 3.")
    sub = p.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    target = Target(command)
    for name, declared in COMMANDS.items():
        if name != command:
            sub.add_parser(name, help=declared.help, add_help=False)
            continue
        s = sub.add_parser(name, help=declared.help, description=declared.help)
        if declared.takes == "recipe":
            _train_parser(s, argv, target, RECIPES, recipe_info, open_run)
        elif declared.takes == "run":
            _run_parser(s, argv, target, recipe_info, open_run)
        elif declared.takes == "inputs":
            _tool_parser(s, declared)
    return p, target


def _train_parser(s, argv, target, recipes, recipe_info, open_run) -> None:
    positional = argv[1] if len(argv) > 1 and not argv[1].startswith("-") else None
    resume = _argv_value(argv, "--resume")
    if resume is not None:
        target.run = open_run(resume)
        target.info = recipe_info(target.run.recipe)
    elif positional is not None:
        target.info = recipe_info(positional)
    elif not _wants_help(argv):
        target.info = recipes[DEFAULT_RECIPE]
    s.add_argument(
        "recipe", nargs="?", metavar="RECIPE", help=f"one of {', '.join(recipes)} (default dcgan)"
    )
    if target.info is not None:
        info = target.info
        s.prog = f"keraslab train {info.name}"
        s.description = f"train {info.name}: {info.description}"
        group = s.add_argument_group(f"{info.name} options ({info.description})")
        add_options(group, info.Config)
    else:
        s.epilog = "Each recipe's options: keraslab train RECIPE --help (recipes: keraslab list)."
    r = s.add_argument_group("run options")
    r.add_argument("--backend", choices=BACKENDS)
    r.add_argument("--out", default="runs", help="folder of run directories (default runs/)")
    r.add_argument("--resume", metavar="RUN", help="continue RUN from its newest checkpoint")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write TensorBoard event files under RUN/tensorboard (scalars, sample grids)",
    )
    d = s.add_argument_group(
        "several devices or hosts (jax backend, keras.distribution; README: Scaling out)"
    )
    d.add_argument("--distribute", choices=("data-parallel", "model-parallel"),
                   help="split each batch over devices (model-parallel also shards the weights "
                   "of translator, gpt, bert-mlm)")  # fmt: skip
    d.add_argument(
        "--devices", type=_positive_int, metavar="N", help="devices to use (default all)"
    )
    d.add_argument("--mesh", metavar="RxS", help="model-parallel: R replicas x S shards (e.g. 2x2)")
    d.add_argument(
        "--coordinator", metavar="HOST:PORT", help="address of process 0 (several hosts)"
    )
    d.add_argument("--num-processes", type=_positive_int, metavar="P", help="processes in the job")
    d.add_argument("--process-id", type=int, metavar="I", help="this process, 0 .. P-1")
    d.add_argument("--coordinator-timeout", type=_positive_int, metavar="S", default=60,
                   help="seconds to wait for the coordinator (default 60)")  # fmt: skip


def _run_parser(s, argv, target, recipe_info, open_run) -> None:
    command = target.command
    path = argv[1] if len(argv) > 1 and not argv[1].startswith("-") else None
    if path is not None:
        target.run = open_run(path)
        target.info = recipe_info(target.run.recipe)
        target.options = command_options(target.info, command, target.run)
    s.add_argument("run", metavar="RUN", help="a run folder made by `keraslab train`")
    what = COMMANDS[command].text
    if what:
        s.add_argument("text", nargs="*", help=f"{what} (none, or -, reads lines from stdin)")
    if target.options is not None:
        s.prog = f"keraslab {command} RUN"
        s.description = f"{COMMANDS[command].help} ({target.info.name} run)"
        add_options(s, target.options)
    else:
        s.epilog = f"The options depend on the run's recipe: keraslab {command} RUN --help."
    s.add_argument("--backend", choices=BACKENDS)


def _tool_parser(s, declared: Command) -> None:
    """A command that takes inputs and options of its own, or several kinds of it."""
    if not declared.kinds:
        _tool_arguments(s, declared)
        return
    kinds = s.add_subparsers(dest="kind", parser_class=_Parser, metavar="KIND")
    kinds.required = True
    for kind, tool in declared.kinds.items():
        k = kinds.add_parser(kind, help=tool.help, description=f"{s.prog} {kind}: {tool.help}")
        _tool_arguments(k, tool)


def _tool_arguments(s, tool) -> None:
    for i, (metavar, what) in enumerate(tool.inputs):
        many = tool.many and i == len(tool.inputs) - 1
        s.add_argument(
            "input" if i == 0 else f"input{i}", metavar=metavar, help=what,
            nargs="+" if many else None,
        )  # fmt: skip
    add_options(s, tool.options)
    if tool.backend is not None:
        s.add_argument("--backend", choices=BACKENDS)


def _refuse_extra(extra, target) -> None:
    """One-line errors for flags the parser did not take, naming where they belong."""
    from keraslab.recipes import RECIPES

    flags = [e.split("=", 1)[0] for e in extra if e.startswith("-") and e != "-"]
    if not flags:
        return
    if target.command == "train" and target.run is not None:
        raise UserError(
            f"{', '.join(flags)}: --resume continues a run with its own settings: only --epochs "
            "may change."
        )
    if target.command == "train" and target.info is not None:
        for flag in flags:
            owners = [r.name for r in RECIPES.values() if flag in _all_flags(r.Config)]
            if owners:
                raise UserError(
                    f"{flag} applies to {', '.join(owners)} only, not to the {target.info.name} "
                    f"recipe (see `keraslab train {target.info.name} --help`)."
                )
    if target.options is not None:
        command = target.command
        for flag in flags:
            owners = [
                r
                for r in RECIPES.values()
                if command in r.commands and flag in _all_flags(r.commands[command])
            ]
            if owners:
                kinds = " or ".join(dict.fromkeys(r.kind for r in owners))
                raise UserError(
                    f"{flag}: not an option of {target.info.name} runs, only of {kinds} runs "
                    f"({', '.join(r.name for r in owners)}; see `keraslab {command} RUN --help`)."
                )
    raise UserError(f"unrecognized arguments: {' '.join(extra)} (see `keraslab --help`)")


def _all_flags(settings_cls) -> set[str]:
    flags = set()
    for opt in settings_cls.options():
        flags.update(opt.flags)
        if opt.info.none_flag:
            flags.add(opt.info.none_flag[0])
    return flags


# ---- backends --------------------------------------------------------------------------------
def backend_installed(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def resolve_backend(
    backend: str | None, default: str | None = None, env=os.environ, installed=backend_installed
) -> str:
    """--backend, else KERAS_BACKEND, else the recipe's measured default if that backend is
    installed (a default install has torch only), else keraslab's."""
    chosen = backend or env.get("KERAS_BACKEND")
    if chosen:
        return chosen
    if default and installed(default):
        return default
    return DEFAULT_BACKEND


def _set_backend(backend: str | None, default: str | None = None) -> str:
    chosen = resolve_backend(backend, default)
    if chosen not in BACKENDS:  # only KERAS_BACKEND can name another (--backend has choices)
        raise UserError(
            f"KERAS_BACKEND={chosen!r} is not a backend keraslab runs on: set it to jax, "
            "tensorflow or torch, or unset it."
        )
    if not backend_installed(chosen):
        extra = "tensorflow" if chosen == "tensorflow" else chosen
        raise UserError(
            f'the {chosen} backend is not installed: pip install -e ".[{extra}]" '
            f"(or choose another with --backend)."
        )
    if "keras" in sys.modules and os.environ.get("KERAS_BACKEND") not in (None, chosen):
        raise UserError("the Keras backend is already loaded in this process.")
    import importlib

    try:  # Keras imports it next anyway; a broken install (e.g. a missing library) is one line
        importlib.import_module(chosen)
    except Exception as e:
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise UserError(
            f"the {chosen} backend is installed but does not import ({type(e).__name__}: "
            f"{first}): reinstall it, or choose another with --backend."
        ) from None
    os.environ["KERAS_BACKEND"] = chosen
    return chosen


# ---- commands --------------------------------------------------------------------------------
def _cmd_list(args, target: Target) -> None:
    from keraslab.data.catalog import CATALOG
    from keraslab.presets import GAN_ARCHITECTURES
    from keraslab.recipes import RECIPES

    print("recipes:")
    for r in RECIPES.values():
        print(
            f"  {r.name:<14} {r.description}  [datasets: {', '.join(r.datasets)}; default "
            f"{r.default_dataset}; commands: train, {', '.join(r.commands)}]"
        )
    print("network presets (--arch; dcgan and wgan-gp default to dcgan):")
    for name, description in GAN_ARCHITECTURES.items():
        print(f"  {name:<14} {description}")
    print("datasets:")
    for d in CATALOG:
        print(f"  {d.name:<14} {d.description}  [{d.status()}]")


def _cmd_train(args, target: Target) -> None:
    from keraslab.recipes import load_recipe
    from keraslab.runs import check_writable_dir

    info = target.info
    values = given(args, info.Config)
    verbose = 0 if args.quiet else 1
    distribute = _distribute(args)
    if args.tensorboard:
        from keraslab.runs.tensorboard import tensorboard_writer

        tensorboard_writer()  # installed? (before Keras loads)
    if target.run is not None:
        changed = [n for n in values if n != "epochs"]
        if changed or args.recipe:
            named = _flags(info.Config, changed) if changed else args.recipe
            raise UserError(
                f"{named}: --resume continues a run with its own settings: only --epochs may "
                "change."
            )
        if not info.resumable:
            raise UserError(
                f"{info.name} runs do not resume (final weights only): start a new run with "
                f"`keraslab train {info.name}`."
            )
        _set_backend(
            _distribute_backend(args.backend or target.run.config.get("backend"), distribute)
        )
        load_recipe(info.name).resume(
            str(target.run.path),
            epochs=values.get("epochs"),
            verbose=verbose,
            tensorboard=args.tensorboard,
            distribute=distribute,
        )
        return
    values = info.Config.from_cli(values, info.datasets)
    name = values.pop("dataset", info.default_dataset)
    dataset = name.replace("-", "_").lower()
    if dataset not in info.datasets:
        raise UserError(
            f"unknown dataset {name!r} for {info.name}: choose one of {', '.join(info.datasets)}."
        )
    paths = {o.name for o in info.Config.options() if o.info.path}
    for key in paths & set(values):  # paths saved in config.json: make them absolute
        if values[key] == "-":
            raise UserError(
                f"{_flags(info.Config, [key])} takes a file, not standard input (-): a run reads "
                "it again on --resume; save the input to a file and give its path."
            )
        if values[key]:
            values[key] = os.path.abspath(os.path.expanduser(values[key]))
    config = info.Config(dataset=dataset, **values)
    config.validate()  # before Keras loads: a bad value costs no import
    check_writable_dir(args.out)
    _set_backend(_distribute_backend(args.backend, distribute), info.default_backend)
    load_recipe(info.name).train(
        config, out=args.out, verbose=verbose, tensorboard=args.tensorboard, distribute=distribute
    )


def _distribute(args):
    """The ``--distribute`` settings (None: one device), checked before Keras loads."""
    from keraslab.scaleout import Distribute

    extra = [f for f in ("devices", "mesh", "coordinator", "num_processes", "process_id")
             if getattr(args, f) is not None]  # fmt: skip
    if args.distribute is None:
        if extra:
            flags = ", ".join("--" + f.replace("_", "-") for f in extra)
            raise UserError(f"{flags}: add --distribute data-parallel (or model-parallel).")
        return None
    return Distribute.from_options(
        args.distribute, args.devices, args.mesh, args.coordinator, args.num_processes,
        args.process_id, args.coordinator_timeout,
    )  # fmt: skip


def _distribute_backend(backend, distribute):
    """The backend to load: with ``--distribute``, jax (the one keras.distribution serves)."""
    if distribute is None:
        return backend
    from keraslab.scaleout import check_backend

    chosen = backend or os.environ.get("KERAS_BACKEND") or "jax"
    check_backend(chosen)
    return chosen


def _read_lines(given_text: list[str], what: str) -> list[str]:
    if given_text and given_text != ["-"]:
        return list(given_text)
    if sys.stdin.isatty():
        print(f"reading {what} from stdin, one per line (Ctrl-D ends) ...", file=sys.stderr)
    from keraslab.io import decode_utf8

    raw = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
    text = decode_utf8(raw, "standard input")
    lines = [s for s in text.splitlines() if s.strip()]  # blank lines in a file are skipped
    if not lines:
        raise UserError(f"no {what} on standard input: pipe in one per line.")
    return lines


def check_outputs(options) -> None:
    """Before any work: each option declared with ``output=`` names a place the command can
    write (its folder writable or creatable), and a ``"new"`` file or a ``"keras"`` model file
    does not exist yet, unless the options have ``--force``."""
    from keraslab.runs import check_model_out, check_writable_dir, refuse_to_overwrite

    for opt in options.options():
        kind, value = opt.info.output, getattr(options, opt.name)
        if kind is None or not value:
            continue
        if kind == "dir":
            check_writable_dir(value)
        elif kind == "keras":
            check_writable_dir(check_model_out(value, getattr(options, "force", False)).parent)
        else:
            if kind == "new":
                if hasattr(options, "force"):
                    refuse_to_overwrite(value, options.force)
                elif os.path.exists(value):
                    raise UserError(f"{value} exists: choose another --out, or remove it first.")
            check_writable_dir(os.path.dirname(os.path.abspath(value)))


def _cmd_on_run(args, target: Target) -> None:
    """``keraslab COMMAND RUN [text] [options]``: the recipe's method ``COMMAND``."""
    from keraslab.recipes import load_recipe

    command, run = target.command, target.run
    declared = COMMANDS[command]
    options = target.options(**given(args, target.options))
    options.validate()
    values = asdict(options)
    inputs = [_read_lines(args.text, declared.text)] if declared.text else []
    check_outputs(options)
    if declared.saves_to_run:
        from keraslab.runs import check_evaluation_file

        check_evaluation_file(run)  # before the work: its result must be savable
    if declared.warns:
        values["warn"] = warn
    _set_backend(args.backend or run.config.get("backend"))
    recipe = load_recipe(target.info.name)
    result = getattr(recipe, command)(str(args.run), *inputs, **values)
    SHOW[declared.show](result, recipe, inputs, values)


def _cmd_tool(args, target: Target) -> None:
    """A command with inputs and options of its own: check the options and where they write,
    choose the backend when it needs Keras, call its function, print what it returns."""
    import importlib

    declared = COMMANDS[args.command]
    tool = declared.kinds[args.kind] if declared.kinds else declared
    options = tool.options(**given(args, tool.options))
    options.validate()
    check_outputs(options)
    inputs = [getattr(args, "input" if i == 0 else f"input{i}") for i in range(len(tool.inputs))]
    default = tool.default_backend(options)
    if default is not None:
        chosen = args.backend
        if chosen is None and tool.run_option:  # a run's backend, as for a command on a run
            from keraslab.runs import open_run

            chosen = open_run(getattr(options, tool.run_option)).config.get("backend")
        _set_backend(chosen, default)
    module, function = tool.run.split(":")
    result = getattr(importlib.import_module(module), function)(*inputs, options)
    if result is not None:
        print(result)


# One handler per kind of command (Command.takes).
DISPATCH = {
    "recipe": _cmd_train,
    "run": _cmd_on_run,
    "inputs": _cmd_tool,
    "nothing": _cmd_list,
}


def main(argv: list[str] | None = None) -> int:
    from keraslab.cli.quiet import keep_ctrl_c, silence_tensorflow_import

    silence_tensorflow_import()  # TensorFlow's start-up lines stay off the terminal
    keep_ctrl_c()  # a Ctrl-C inside jax's gc callback still stops the run, with one line
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser, target = build_parser(argv)
        args, extra = parser.parse_known_args(argv)
        if extra:
            # `translate RUN --method beam "text"`: argparse leaves text after a flag unparsed.
            if (
                target.command
                and COMMANDS[target.command].text
                and not any(e.startswith("-") and e != "-" for e in extra)
            ):
                args.text = [*args.text, *extra]
            else:
                _refuse_extra(extra, target)
        if args.command is None:
            parser.print_help()
            return EXIT_USER_ERROR
        DISPATCH[COMMANDS[args.command].takes](args, target)
        return 0
    except UserError as e:
        print(f"keraslab: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:  # `keraslab classify RUN < texts | head -1`: the reader has gone
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout
        return 0
    except OSError as e:  # disk full, permission, file too large: the user's environment
        where = f"{e.filename}: " if e.filename else ""
        print(
            f"keraslab: error: {where}{e.strerror or e} (nothing half-written is kept)",
            file=sys.stderr,
        )
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(
            "keraslab: interrupted (a run resumes with `keraslab train --resume RUN`)",
            file=sys.stderr,
        )
        return 130
