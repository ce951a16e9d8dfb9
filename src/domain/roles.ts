// A story's members and what each role may do: owner ⊃ editor ⊃ commenter ⊃ viewer.
// Non-members get what a missing id gets (NOT_FOUND); a member whose role is too low gets FORBIDDEN.
import { StorySparkError } from "./errors.ts";

export const ROLES = ["viewer", "commenter", "editor", "owner"] as const;
export type Role = (typeof ROLES)[number];

const RANK: { readonly [R in Role]: number } = { viewer: 0, commenter: 1, editor: 2, owner: 3 };

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** Whether `role` may do what `needed` may. */
export function roleAllows(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed];
}

/** FORBIDDEN, naming the role needed and the one the member holds. */
export function forbidden(needed: Role, held: Role, action: string): StorySparkError {
  return new StorySparkError("FORBIDDEN", `${action} needs the ${needed} role; you are ${articled(held)}`, { requiredRole: needed.toUpperCase(), role: held.toUpperCase() });
}

/** Throws FORBIDDEN unless `held` allows `needed`. */
export function requireRole(held: Role, needed: Role, action: string): void {
  if (!roleAllows(held, needed)) throw forbidden(needed, held, action);
}

function articled(role: Role): string {
  return role === "owner" || role === "editor" ? `an ${role}` : `a ${role}`;
}
