"""A dependency-free progress display on stderr, shown only where it helps."""

import sys
import time


class Progress:
    """`for x in Progress(items, desc="render"): ...` or manual `update(n, status=...)` then `close()`.

    Work that ends within `delay` seconds shows nothing. On a terminal, longer work shows a bar
    redrawn in place (at most every `redraw` seconds) and ended with a newline at `close`; on a
    pipe or file it shows no bar, only one final line at `close` (`desc: count/total in 12.3s
    status`). `status` (e.g. the current loss) is shown after the counts. A `close` never
    reached (an exception) prints no final line, so an error stays the only line.
    """

    def __init__(self, iterable=None, total=None, desc="", stream=None, delay=1.0, redraw=0.1):
        self.iterable = iterable
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        self.desc = desc
        self.stream = stream or sys.stderr
        self.delay, self.redraw = delay, redraw
        self.count = 0
        self.status = ""
        self.start = time.monotonic()
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_draw = None
        self._closed = False

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def update(self, n=1, status=None):
        self.count += n
        if status is not None:
            self.status = status
        if not self._tty:
            return
        now = time.monotonic()
        if now - self.start >= self.delay and (self._last_draw is None or now - self._last_draw >= self.redraw):
            self._draw(now)

    def _draw(self, now):
        self._last_draw = now
        self.stream.write("\r" + self._bar_line(now - self.start))
        self.stream.flush()

    def _counts(self):
        return "%d/%d" % (self.count, self.total) if self.total else "%d" % self.count

    def _bar_line(self, elapsed):
        bar = ""
        if self.total:
            filled = min(20, int(20 * self.count / self.total))
            bar = "[%s%s] " % ("#" * filled, "-" * (20 - filled))
        return "%s %s%s %.1fs%s" % (self.desc, bar, self._counts(), elapsed, " " + self.status if self.status else "")

    def close(self):
        """End the display (idempotent): the bar's last state on a terminal, one line elsewhere."""
        if self._closed:
            return
        self._closed = True
        now = time.monotonic()
        if self._tty:
            if self._last_draw is not None or now - self.start >= self.delay:
                self._draw(now)
                self.stream.write("\n")
        elif now - self.start >= self.delay:
            self.stream.write("%s: %s in %.1fs%s\n" % (self.desc, self._counts(), now - self.start,
                                                       " " + self.status if self.status else ""))
        self.stream.flush()
