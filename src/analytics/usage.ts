// The analytics tables: module runs, and AI spend totals.
import type { DbClient } from "../database/types.ts";
import type { ModuleName } from "../domain/catalogue.ts";

export type ModuleRun = {
  userId: string;
  storyId: string;
  module: ModuleName;
  source: "manual" | "generated";
  outcome: "written" | "cleared" | "failed" | "cancelled";
  durationMs: number;
  generationId?: string | null;
};

export async function recordModuleRun(db: DbClient, run: ModuleRun): Promise<void> {
  await db.moduleUsageLog.create({
    data: {
      userId: run.userId,
      storyId: run.storyId,
      moduleName: run.module,
      source: run.source,
      outcome: run.outcome,
      durationMs: Math.round(run.durationMs),
      generationId: run.generationId ?? null,
    },
  });
}

export type AiUsageTotals = {
  since: Date | null;
  generations: number;
  calls: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  /** calls whose model had no price: their tokens count, their cost is unknown */
  unpricedCalls: number;
  byModel: { model: string; calls: number; promptTokens: number; completionTokens: number; costUsd: number }[];
};

export async function aiUsage(db: DbClient, where: { userId?: string; storyId?: string }, since: Date | null): Promise<AiUsageTotals> {
  const filter = { ...where, ...(since ? { createdAt: { gte: since } } : {}) };
  const [byModel, unpriced, generations] = await Promise.all([
    db.aiCostTracking.groupBy({
      by: ["model"],
      where: filter,
      _count: { _all: true },
      _sum: { promptTokens: true, completionTokens: true, costUsd: true },
      orderBy: { model: "asc" },
    }),
    db.aiCostTracking.count({ where: { ...filter, costUsd: null } }),
    db.aiGeneration.count({ where: filter }),
  ]);
  const models = byModel.map((m) => ({
    model: m.model,
    calls: m._count._all,
    promptTokens: m._sum.promptTokens ?? 0,
    completionTokens: m._sum.completionTokens ?? 0,
    costUsd: Number(m._sum.costUsd ?? 0),
  }));
  return {
    since,
    generations,
    calls: models.reduce((a, m) => a + m.calls, 0),
    promptTokens: models.reduce((a, m) => a + m.promptTokens, 0),
    completionTokens: models.reduce((a, m) => a + m.completionTokens, 0),
    costUsd: models.reduce((a, m) => a + m.costUsd, 0),
    unpricedCalls: unpriced,
    byModel: models,
  };
}
