"""Shared plumbing for the absl apps: dashed flag spellings, subcommands, one-line errors,
and the official argument syntaxes (seed ranges)."""

import inspect
import re
import sys

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


def normalize_flag_spellings(argv, flag_values=FLAGS):
    """Rewrite `--some-flag[=v]` to `--some_flag[=v]` for every defined flag (the official apps
    use dashed names, absl defines underscored ones). `--no-flag` booleans are handled too."""
    out = []
    for arg in argv:
        m = re.match(r"^(--?)([A-Za-z0-9][A-Za-z0-9_-]*)(=.*)?$", arg) if arg.startswith("--") else None
        if m and "-" in m.group(2):
            name = m.group(2).replace("-", "_")
            # the name as given first: --noise-mode is a flag, not the negation of a boolean "ise_mode"
            if name in flag_values:
                arg = "%s%s%s" % (m.group(1), name, m.group(3) or "")
            elif name.startswith("no") and name[2:].lstrip("_") in flag_values:
                arg = "%sno%s%s" % (m.group(1), name[2:].lstrip("_"), m.group(3) or "")
        out.append(arg)
    return out


def _parse_flags(argv):
    try:
        return FLAGS(normalize_flag_spellings(argv))
    except flags.Error as e:
        print("%s: error: %s" % (_prog(argv), str(e).splitlines()[0]), file=sys.stderr)
        sys.exit(2)


def _prog(argv):
    return argv[0].rsplit("/", 1)[-1] if argv else "app"


_APP_PACKAGES = ("tf_stylegan2.", "converters.")


def _register_app_flags_as_key_flags(script):
    """absl's --help lists the key flags of the script run; the apps define theirs in package modules."""
    for module in list(FLAGS.flags_by_module_dict()):
        if module.startswith(_APP_PACKAGES):
            for flag in FLAGS.get_flags_for_module(module):
                FLAGS.register_key_flag_for_module(script, flag)


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

    if sys.argv:
        _register_app_flags_as_key_flags(sys.argv[0])
    app.run(main, flags_parser=_parse_flags)
