"""Shared plumbing for the absl apps: dashed flag spellings, subcommands, one-line errors,
and the official argument syntaxes (seed ranges)."""

import fnmatch
import inspect
import re
import sys
import textwrap

from absl import app, flags

FLAGS = flags.FLAGS


class CommandError(Exception):
    """A user-facing error: printed as one line, exit status 1."""


def parse_int_list(text, what="value"):
    """'1,5,7', '10-20' (inclusive) or a mix '1-3,7' -> list of ints (a superset of the official syntax).

    Raises:
      CommandError: anything else (empty items, reversed ranges, non-integers, negatives).
    """
    values = []
    for item in str(text).split(","):
        item = item.strip()
        m = re.fullmatch(r"(\d+)-(\d+)", item)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                raise CommandError("bad %s range %r: end before start" % (what, item))
            values.extend(range(lo, hi + 1))
        elif re.fullmatch(r"\d+", item):
            values.append(int(item))
        else:
            raise CommandError("bad %s %r in %r: expected e.g. '1,5,7', '10-20' or '1-3,7'" % (what, item, text))
    return values


_TRUE_WORDS = ("true", "t", "yes", "y", "1")
_FALSE_WORDS = ("false", "f", "no", "n", "0")


def normalize_flag_spellings(argv, flag_values=FLAGS, aliases=None):
    """Rewrite the official spellings of flags into absl's.

    - `--some-flag[=v]` -> `--some_flag[=v]` (the official apps use dashed names, absl defines
      underscored ones), `--no-flag` / `--noflag` for booleans;
    - boolean values: `--flag=yes|no|y|n` (absl takes true/false/t/f/1/0 only), and TF1's argparse
      form `--flag VALUE` with one of these words as the next argument;
    - `aliases` {other name: flag name}, e.g. `outdir_alias`.
    """
    aliases = aliases or {}
    out, args = [], list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--":
            out += [arg] + args
            break
        m = re.match(r"^--([A-Za-z0-9][A-Za-z0-9_-]*)(=.*)?$", arg)
        if not m:
            out.append(arg)
            continue
        name, value, negated = m.group(1).replace("-", "_"), m.group(2), False
        # the name as given first: --noise-mode is a flag, not the negation of a boolean "ise_mode"
        if name in aliases:
            name = aliases[name]
        elif name not in flag_values:
            if name.startswith("no") and name[2:].lstrip("_") in flag_values:
                name, negated = name[2:].lstrip("_"), True
            else:
                out.append(arg)  # absl names the unknown flag
                continue
        if isinstance(flag_values[name], flags.BooleanFlag) and not negated:
            if value is None and args and args[0].lower() in _TRUE_WORDS + _FALSE_WORDS:
                value = "=" + args.pop(0)
            if value is not None and value[1:].lower() in _TRUE_WORDS + _FALSE_WORDS:
                value = "=true" if value[1:].lower() in _TRUE_WORDS else "=false"
        out.append("--%s%s%s" % ("no" if negated else "", name, value or ""))
    return out


_HELP_ARGS = ("-h", "-?", "--help", "-help", "--helpshort", "-helpshort")
_ENUM_CHOICES = re.compile(r"^<[^>]*>: ")


def _canonical(name):
    return name.replace("_", "-")


def flag_scope(flag, subcommands):
    """The subcommands a flag belongs to, read from its help text's prefix: "sefa, edit-latents: ..."
    (names, dashed or underscored, or shell patterns such as "create_*"; an item starting with "--",
    such as "--source/--dest", means the form without a subcommand). None: a prefix that names no
    subcommand (or no prefix): the flag applies to every subcommand."""
    m = re.match(r"^([^:]+): ", _ENUM_CHOICES.sub("", flag.help or ""))
    if not m:
        return None
    scope = set()
    for item in (i.strip() for i in m.group(1).split(",")):
        if item.startswith("--"):
            scope.update(n for n in subcommands if n is None)
        else:
            scope.update(n for n in subcommands if n and fnmatch.fnmatchcase(_canonical(n), _canonical(item)))
    return scope or None


def app_flags(module):
    """The flags the app module defined, current objects, in definition order."""
    names = []
    for flag in FLAGS.get_flags_for_module(module):
        if flag.name not in names and flag.name in FLAGS:
            names.append(flag.name)
    return [FLAGS[name] for name in names]


def outdir_alias(module):
    """{"outdir": "result_dir"} for an app module with --result_dir and no --outdir of its own:
    StyleGAN2-ADA's name for the directory of numbered runs, accepted by every app that writes them."""
    names = {f.name for f in app_flags(module)}
    return {"outdir": "result_dir"} if "result_dir" in names and "outdir" not in names else {}


def _flag_lines(flag, aliases):
    name = _canonical(flag.name)
    spelled = "--[no]%s" % name if isinstance(flag, flags.BooleanFlag) else "--%s" % name
    spelled += "".join(" (or --%s)" % alias for alias, name in aliases.items() if name == flag.name)
    text = flag.help or ""
    if flag.default is not None and flag.default != []:
        text += " (default: %s)" % flag.default_as_str
    return ["  " + spelled] + textwrap.wrap(text, 96, initial_indent="      ", subsequent_indent="      ")


def _doc(obj):
    return inspect.cleandoc(obj.__doc__ or "").strip()


def help_text(prog, subcommands, name):
    """`prog --help` (`name` None) or `prog NAME --help`: the description and only the flags that apply."""
    module = next(iter(subcommands.values())).__module__
    fn = subcommands.get(name)
    named = name is not None and fn is not None
    usage = "%s %s%s[flags]" % (prog, name, " " + _arguments(fn) + " " if fn and _arguments(fn) != "no arguments"
                                else " ") if named else \
        "%s %s[flags]" % (prog, "" if list(subcommands) == [None] else "SUBCOMMAND ")
    lines = ["usage: " + usage.replace("  ", " "), ""]
    lines += [_doc(fn) if named else _doc(sys.modules[module]), ""]
    if not named and list(subcommands) != [None]:
        lines.append("subcommands:")
        seen = set()
        for sub, sub_fn in subcommands.items():
            if sub is not None and sub_fn not in seen:
                seen.add(sub_fn)
                summary = " ".join(_doc(sub_fn).split("\n\n")[0].split())
                lines += ["  " + sub] + textwrap.wrap(summary, 96, initial_indent="      ", subsequent_indent="      ")
        lines += ["", "`%s SUBCOMMAND --help` lists a subcommand's flags." % prog, ""]
    shown = [f for f in app_flags(module) if flag_scope(f, subcommands) is None or
             (name if named else None) in flag_scope(f, subcommands)]
    if shown:
        lines.append("flags (dashed or underscored; yes/no flags also take =yes|no|true|false|1|0):" if any(
            isinstance(f, flags.BooleanFlag) for f in shown) else "flags (dashed or underscored):")
        for flag in shown:
            lines += _flag_lines(flag, outdir_alias(module))
    return "\n".join(lines).rstrip() + "\n"


def _parse_flags(argv, aliases):
    try:
        return FLAGS(normalize_flag_spellings(argv, FLAGS, aliases))
    except flags.Error as e:
        print("%s: error: %s" % (_prog(argv), str(e).splitlines()[0]), file=sys.stderr)
        sys.exit(2)


def _prog(argv):
    return argv[0].rsplit("/", 1)[-1] if argv else "app"


def _accepts(fn, args):
    try:
        inspect.signature(fn).bind(*args)
        return True
    except TypeError:
        return False


def _arguments(fn):
    params = inspect.signature(fn).parameters.values()
    names = [p.name if p.default is p.empty else "[%s]" % p.name for p in params]
    return " ".join(names) or "no arguments"


def run(commands, positional=False):
    """Run an absl app: `commands` is one function (no positional argument) or
    `{"subcommand": fn}` (the first positional argument names the subcommand).
    With `positional`, the arguments after the subcommand are passed to fn (the official
    `dataset_tool.py create_from_images tfrecord_dir image_dir` syntax); a wrong count is a usage error.

    Each fn reads FLAGS. `CommandError`, `ValueError` and `OSError` raised by it become a
    one-line `prog: error: ...` and exit status 1; usage errors exit with status 2.
    """
    subcommands = {None: commands} if callable(commands) else commands

    def main(argv):
        prog = _prog(argv)
        name = argv[1] if len(argv) == 2 or (positional and len(argv) > 2) else None
        args = argv[2:] if positional else []
        if positional and name in subcommands and not _accepts(subcommands[name], args):
            print("%s: error: %s takes %s, got %d argument(s)" % (prog, name, _arguments(subcommands[name]),
                                                                  len(args)), file=sys.stderr)
            sys.exit(2)
        if (len(argv) > 2 and not positional) or name not in subcommands:
            if callable(commands):
                print("%s: error: unexpected arguments %s" % (prog, " ".join(argv[1:])), file=sys.stderr)
            else:
                given = " ".join(argv[1:]) or "nothing"
                names = ", ".join(sorted(n for n in subcommands if n))
                print("%s: error: expected one subcommand of %s, got %s" % (prog, names, given), file=sys.stderr)
            sys.exit(2)
        try:
            subcommands[name](*args)
        except (CommandError, ValueError, OSError) as e:
            message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            print("%s: error: %s" % (prog, message), file=sys.stderr)
            sys.exit(1)

    def parse_flags(argv):
        if any(arg in _HELP_ARGS for arg in argv[1:argv.index("--") if "--" in argv else len(argv)]):
            name = next((arg for arg in argv[1:] if arg in subcommands), None)
            sys.stdout.write(help_text(_prog(argv), subcommands, name))
            sys.exit(0)
        return _parse_flags(argv, outdir_alias(next(iter(subcommands.values())).__module__))

    app.run(main, flags_parser=parse_flags)
