// Standard output that keeps every byte when piped into a slower reader (`| gzip`, `| wc -l`).
//
// A pipe takes 64 KiB; what does not fit waits in the stream's buffer, and a process that
// exits right away drops it. So writes wait for the pipe to drain (which also bounds memory
// when following a long log), `flushed()` waits for the last byte to leave, and the CLI ends
// by setting process.exitCode and returning. A reader that goes away (`| head`) ends the
// command quietly instead of killing it with EPIPE.

/** The reader of our output closed its end: there is nobody left to print for. */
export class OutputClosedError extends Error {
  constructor() {
    super("the reader of the output went away");
  }
}

export type Output = {
  /** Resolves once the stream can take more; rejects with OutputClosedError if the reader left. */
  write(text: string): Promise<void>;
  /** Resolves once everything written so far has been handed to the operating system. */
  flushed(): Promise<void>;
};

export function outputTo(stream: NodeJS.WritableStream): Output {
  let closed = false;
  let lastWrite: Promise<void> = Promise.resolve();
  const waiting = new Set<() => void>();
  const wake = () => {
    for (const resume of waiting) resume();
    waiting.clear();
  };
  stream.on("drain", wake);
  // EPIPE and the like arrive as 'error' events: without a listener they would end the process
  stream.on("error", () => {
    closed = true;
    wake();
  });

  return {
    async write(text) {
      if (closed) throw new OutputClosedError();
      let written!: () => void;
      lastWrite = new Promise((resolve) => (written = resolve));
      if (!stream.write(text, () => written()) && !closed) await new Promise<void>((resume) => waiting.add(resume));
      if (closed) throw new OutputClosedError();
    },
    flushed: () => (closed ? Promise.resolve() : lastWrite),
  };
}
