"""The timeline of a stream read packet by packet or frame by frame: its start, end, step."""


class Timeline:
    """First and last times of a stream and its typical step, kept in bounded memory.

    The step is the median gap among the first `SAMPLE` times, which is what the last frame is taken to
    last; a file hours long costs no more than a short one.
    """

    SAMPLE = 512

    def __init__(self):
        self.count, self.first, self.last, self.sample = 0, None, None, []

    def add(self, start: float, end: float | None = None) -> None:
        self.count += 1
        self.first = start if self.first is None else min(self.first, start)
        end = start if end is None else end
        self.last = end if self.last is None else max(self.last, end)
        if len(self.sample) < self.SAMPLE:
            self.sample.append(start)

    def step(self) -> float:
        times = sorted(self.sample)
        gaps = sorted(b - a for a, b in zip(times, times[1:], strict=False) if b > a)
        return gaps[len(gaps) // 2] if gaps else 0.0

    def span(self, last_lasts_a_step: bool) -> tuple[float, float]:
        return self.first, self.last + (self.step() if last_lasts_a_step else 0.0)
