"""A dependency-free progress bar on stderr."""

import sys
import time


class Progress:
    """`for x in Progress(items, desc="render"): ...` or manual `update(n, status=...)`.

    On a terminal the bar redraws in place; otherwise it prints a line at every 10 %.
    `status` (e.g. the current loss) is shown after the counts.
    """

    def __init__(self, iterable=None, total=None, desc="", stream=None):
        self.iterable = iterable
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        self.desc = desc
        self.stream = stream or sys.stderr
        self.count = 0
        self.status = ""
        self.start = time.time()
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_decile = -1

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def update(self, n=1, status=None):
        self.count += n
        if status is not None:
            self.status = status
        if self._tty:
            self.stream.write("\r" + self._line())
            self.stream.flush()
            return
        decile = int(10 * self.count / self.total) if self.total else self.count
        if decile != self._last_decile:
            self._last_decile = decile
            self.stream.write(self._line() + "\n")
            self.stream.flush()

    def _line(self):
        elapsed = time.time() - self.start
        if self.total:
            frac = self.count / self.total
            bar = "#" * int(20 * frac) + "-" * (20 - int(20 * frac))
            text = "%s [%s] %d/%d %.1fs" % (self.desc, bar, self.count, self.total, elapsed)
        else:
            text = "%s %d %.1fs" % (self.desc, self.count, elapsed)
        return text + (" " + self.status if self.status else "")

    def close(self):
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()
