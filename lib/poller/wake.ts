/**
 * A wake-up signal: `wait(ms)` resolves on the next `notify()` or after `ms`, whichever is first.
 * The poller's fetch loop sleeps on it while it has no room, and every finished job notifies it.
 * A notify reaches whoever waits at that moment; one that comes while nobody waits is dropped (the
 * loop re-reads its state before it waits again).
 */
export class Wake {
  private resolve?: () => void;

  wait(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(() => done(), ms);
      const done = (): void => {
        clearTimeout(t);
        // A wait that ended by its timer must not unhook a newer one.
        if (this.resolve === done) this.resolve = undefined;
        r();
      };
      this.resolve = done;
    });
  }

  notify(): void {
    this.resolve?.();
  }
}
