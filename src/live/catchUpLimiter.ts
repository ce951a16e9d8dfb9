// Reading a story's history for subscribers that are behind, bounded process-wide: ten
// subscribers catching up on 20,000 events each, all at once, took the database pool and
// the event loop from the writers (75 writes in 20 s, p95 10.9 s). A page read waits here
// for one of a few places, and keeps it while its events go out (sending them is most of the
// cost); reads of caught-up subscribers don't come here at all.
import { DEFAULT_LIVE_LIMITS } from "./limits.ts";

export type CatchUpStats = { inFlight: number; maxObserved: number; waiting: number; maxWaiting: number };

export class CatchUpLimiter {
  private inFlight = 0;
  private maxObserved = 0;
  private maxWaiting = 0;
  private readonly waiting: (() => void)[] = [];

  private limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** CATCHUP_CONCURRENCY; 0 means no bound. Waiting reads keep their turn. */
  setLimit(limit: number): void {
    this.limit = limit;
    this.admit();
  }

  get concurrency(): number {
    return this.limit;
  }

  /** Waits for a place; the permit's release (any number of times) gives it back. */
  async acquire(): Promise<{ release(): void }> {
    await new Promise<void>((resolve) => {
      this.waiting.push(resolve);
      this.maxWaiting = Math.max(this.maxWaiting, this.waiting.length);
      this.admit();
    });
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        this.inFlight--;
        this.admit();
      },
    };
  }

  /** catch-up page reads running and waiting now, and the most seen at once since the last reset */
  stats(): CatchUpStats {
    return { inFlight: this.inFlight, maxObserved: this.maxObserved, waiting: this.waiting.length, maxWaiting: this.maxWaiting };
  }

  resetObserved(): void {
    this.maxObserved = this.inFlight;
    this.maxWaiting = this.waiting.length;
  }

  private admit(): void {
    while (this.waiting.length > 0 && (this.limit === 0 || this.inFlight < this.limit)) {
      this.inFlight++;
      this.maxObserved = Math.max(this.maxObserved, this.inFlight);
      this.waiting.shift()!();
    }
  }
}

/** The process's one limiter: every feed of every subscriber shares it. */
export const catchUpLimiter = new CatchUpLimiter(DEFAULT_LIVE_LIMITS.catchUpConcurrency);

/** Catch-up page reads running now (for tests and metrics). */
export function catchUpReadsInFlight(): CatchUpStats {
  return catchUpLimiter.stats();
}
