/**
 * A wake-up signal: `wait(ms)` resolves on the next `notify()` or after `ms`, whichever is first.
 * The poller's fetch loop sleeps on it while it has no room, and every finished job notifies it.
 */
export class Wake {
  private resolve?: () => void;

  wait(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(() => done(), ms);
      const done = (): void => {
        clearTimeout(t);
        this.resolve = undefined;
        r();
      };
      this.resolve = done;
    });
  }

  notify(): void {
    this.resolve?.();
  }
}
