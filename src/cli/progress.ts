// Progress on stderr: a bar redrawn in place on a terminal, a line now and then elsewhere.
import type { Progress } from "../projection/rebuild.ts";

export function progressReporter(label: string, stream: NodeJS.WriteStream = process.stderr): Progress & { finish(): void } {
  let lastLine = 0;
  let drawn = false;
  const report: Progress & { finish(): void } = Object.assign(
    (done: { streams: number; events: number }, total: { streams: number; events: number }) => {
      const share = total.events === 0 ? 1 : done.events / total.events;
      const text = `${label} ${done.streams}/${total.streams} stories, ${done.events}/${total.events} events`;
      if (stream.isTTY) {
        const width = 30;
        const filled = Math.round(share * width);
        stream.write(`\r[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${Math.floor(share * 100)}% ${text}`);
        drawn = true;
      } else if (Date.now() - lastLine > 2_000 || done.events === total.events) {
        stream.write(`${text}\n`);
        lastLine = Date.now();
      }
    },
    {
      finish() {
        if (drawn) stream.write("\n");
      },
    },
  );
  return report;
}
