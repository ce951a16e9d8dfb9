// What the application announces for whoever measures it (src/server/metrics.ts), on Node's
// diagnostics channels: events appended and AI generations. Nothing is built or sent while no
// one listens, and the code that announces knows nothing of who does.
import diagnosticsChannel from "node:diagnostics_channel";

/** A command's events, committed by this process. */
export type EventsAppended = { readonly types: readonly string[] };

/** A generation that ended, with its model calls (a repair call is a second one). */
export type GenerationEnded = {
  readonly model: string;
  readonly outcome: "succeeded" | "failed" | "cancelled";
  readonly calls: number;
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** null when the model has no price */
  readonly costUsd: number | null;
};

export const eventsAppendedChannel = diagnosticsChannel.channel("story-spark:events-appended");
export const generationEndedChannel = diagnosticsChannel.channel("story-spark:generation-ended");

export function announceEventsAppended(types: readonly string[]): void {
  if (types.length > 0 && eventsAppendedChannel.hasSubscribers) eventsAppendedChannel.publish({ types } satisfies EventsAppended);
}

export function announceGenerationEnded(generation: GenerationEnded): void {
  if (generationEndedChannel.hasSubscribers) generationEndedChannel.publish(generation);
}
