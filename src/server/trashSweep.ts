// The periodic job that empties the trash: at start, then every TRASH_SWEEP_MS (an hour), it
// erases the stories deleted more than TRASH_DAYS ago. Instances sweeping at once share the work
// (src/commands/trashCommands.ts); a database that does not answer is tried again next time.
import { purgeTrashedBefore } from "../commands/trashCommands.ts";
import type { CommandServices } from "../commands/storyCommands.ts";

export const DEFAULT_TRASH_DAYS = 30;
export const DEFAULT_TRASH_SWEEP_MS = 60 * 60 * 1000;

const DAY_MS = 24 * 60 * 60 * 1000;

export type TrashSweepOptions = {
  services: CommandServices;
  /** TRASH_DAYS: 0 erases what is in the trash at the next sweep */
  days: number;
  /** between the end of a sweep and the start of the next */
  intervalMs: number;
  log: { info(message: string): void; warn(message: string, error?: unknown): void };
  /** the clock (tests move it) */
  now?: () => Date;
};

export type TrashSweep = {
  /** one sweep now, after the one running if any: the ids erased (tests) */
  sweepNow(): Promise<string[]>;
  /** no sweep starts any more; resolves when the one running has ended */
  stop(): Promise<void>;
};

export function startTrashSweep(options: TrashSweepOptions): TrashSweep {
  const now = options.now ?? (() => new Date());
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<string[]> = Promise.resolve([]);

  const sweep = async (): Promise<string[]> => {
    try {
      const erased = await purgeTrashedBefore(options.services, new Date(now().getTime() - options.days * DAY_MS));
      if (erased.length > 0) options.log.info(`trash: erased ${erased.length} ${erased.length === 1 ? "story" : "stories"} deleted more than ${options.days} days ago`);
      return erased;
    } catch (error) {
      // the database away or refusing: nothing was erased that is not committed; next time
      options.log.warn("trash: the sweep failed, it runs again later:", error);
      return [];
    }
  };
  const next = (): Promise<string[]> => {
    running = running.then(sweep);
    return running;
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => void next().then(schedule), options.intervalMs);
    timer.unref();
  };
  void next().then(schedule);

  return {
    sweepNow: next,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
