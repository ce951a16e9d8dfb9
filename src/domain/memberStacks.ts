// Each member's undo and redo stacks of version numbers, as immutable lists of runs: a push or a
// pop makes one new cell, so folding a long log stays linear, and a writer's stack (mostly
// numbers one after another) is stored as a few runs rather than every number.

/** The top run of a stack: the numbers first, first + 1, …, last (the top), on the runs below. */
export type StackRun = { readonly first: number; readonly last: number; readonly below: StackRun | null };

/** user id → their stack; members with an empty stack are absent. */
export type MemberStacks = ReadonlyMap<string, StackRun>;

/** A stack as stored: its runs, bottom first, each [first, last]. */
export type StoredRuns = [first: number, last: number][];

export function topOf(stacks: MemberStacks, userId: string): number | undefined {
  return stacks.get(userId)?.last;
}

/** The member's stack, the next one last (empty when they have none). */
export function stackOf(stacks: MemberStacks, userId: string): number[] {
  const numbers: number[] = [];
  for (let run = stacks.get(userId) ?? null; run; run = run.below) {
    for (let n = run.last; n >= run.first; n--) numbers.push(n);
  }
  return numbers.reverse();
}

export function pushed(stacks: MemberStacks, userId: string, number: number): MemberStacks {
  const top = stacks.get(userId) ?? null;
  const run = top && top.last === number - 1 ? { ...top, last: number } : { first: number, last: number, below: top };
  return new Map(stacks).set(userId, run);
}

/** The member's stack without `number`: its top, unless a log from before this rule says otherwise. */
export function withoutTop(stacks: MemberStacks, userId: string, number: number): MemberStacks {
  const top = stacks.get(userId);
  if (!top) return stacks;
  if (top.last === number) return withRun(stacks, userId, top.first === top.last ? top.below : { ...top, last: top.last - 1 });
  const numbers = stackOf(stacks, userId);
  const at = numbers.lastIndexOf(number);
  if (at === -1) return stacks;
  numbers.splice(at, 1);
  return withRun(stacks, userId, numbers.reduce<StackRun | null>((below, n) => (below && below.last === n - 1 ? { ...below, last: n } : { first: n, last: n, below }), null));
}

export function emptied(stacks: MemberStacks, userId: string): MemberStacks {
  return withRun(stacks, userId, null);
}

function withRun(stacks: MemberStacks, userId: string, run: StackRun | null): MemberStacks {
  const next = new Map(stacks);
  if (run) next.set(userId, run);
  else next.delete(userId);
  return next;
}

export function storedRuns(run: StackRun): StoredRuns {
  const runs: StoredRuns = [];
  for (let r: StackRun | null = run; r; r = r.below) runs.push([r.first, r.last]);
  return runs.reverse();
}

export function fromStoredRuns(runs: StoredRuns): StackRun | null {
  return runs.reduce<StackRun | null>((below, [first, last]) => ({ first, last, below }), null);
}
