// User, the viewer, and signing up, in and out.
import { builder } from "../builder.ts";
import { loadAll } from "../loaders.ts";
import type { User } from "../../generated/prisma/client.ts";
import { signIn, signUp } from "../../auth/accounts.ts";
import { signOut } from "../../auth/sessions.ts";
import { PASSWORD_MAX, PASSWORD_MIN } from "../../auth/passwordPolicy.ts";
import { storiesConnection, StoryConnection } from "./story.ts";

export const UserType = builder.objectRef<User>("User");

builder.node(UserType, {
  description: "A writer.",
  id: { resolve: (user) => user.id },
  loadMany: (ids, context) => loadAll(context.loaders.user, ids),
  fields: (t) => ({
    email: t.string({
      description: "Visible to that user only.",
      nullable: true,
      resolve: (user, _args, context) => (context.viewer?.id === user.id ? user.email : null),
    }),
    username: t.exposeString("username"),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    stories: t.field({
      type: StoryConnection,
      description: "The user's stories, newest first.",
      args: { first: t.arg.int(), after: t.arg.string() },
      resolve: (user, args, context) => storiesConnection(context, user.id, args),
    }),
  }),
});

const AuthPayload = builder.objectRef<{ token: string; expiresAt: number; user: User }>("AuthPayload").implement({
  fields: (t) => ({
    token: t.exposeString("token", { description: "Send as `Authorization: Bearer <token>`." }),
    expiresAt: t.field({ type: "DateTime", description: "When the token stops working: sign in again before.", resolve: (payload) => new Date(payload.expiresAt) }),
    user: t.field({ type: UserType, resolve: (payload) => payload.user }),
  }),
});

const SignOutPayload = builder.objectRef<{ allDevices: boolean }>("SignOutPayload").implement({
  fields: (t) => ({
    allDevices: t.exposeBoolean("allDevices", { description: "Whether every token of the user was revoked, or only the one sent." }),
  }),
});

const SignUpInput = builder.inputType("SignUpInput", {
  fields: (t) => ({
    email: t.string({ required: true }),
    username: t.string({ required: true }),
    password: t.string({
      required: true,
      description: `${PASSWORD_MIN} to ${PASSWORD_MAX} characters; not a common or breached password, nor the email or username.`,
    }),
  }),
});

const SignInInput = builder.inputType("SignInInput", {
  fields: (t) => ({
    email: t.string({ required: true }),
    password: t.string({ required: true }),
  }),
});

const SignOutInput = builder.inputType("SignOutInput", {
  fields: (t) => ({
    allDevices: t.boolean({ description: "Revoke every token of the user, not only the one sent. Default false." }),
  }),
});

builder.queryField("viewer", (t) =>
  t.field({
    type: UserType,
    nullable: true,
    description: "The signed-in user, or null.",
    resolve: (_root, _args, context) => (context.viewer ? context.loaders.user.load(context.viewer.id) : null),
  }),
);

builder.mutationFields((t) => ({
  signUp: t.field({
    type: AuthPayload,
    description: "Throttled per client address and per email (RATE_LIMITED with retryAfter).",
    args: { input: t.arg({ type: SignUpInput, required: true }) },
    resolve: async (_root, { input }, context) => {
      const user = await signUp(context, input, context.client.address);
      return { ...(await context.tokens.issue(user)), user };
    },
  }),
  signIn: t.field({
    type: AuthPayload,
    description: "Throttled per client address and per email; failures in a row lock the email out from that address for longer each time.",
    args: { input: t.arg({ type: SignInInput, required: true }) },
    resolve: async (_root, { input }, context) => {
      const user = await signIn(context, input, context.client.address);
      return { ...(await context.tokens.issue(user)), user };
    },
  }),
  signOut: t.field({
    type: SignOutPayload,
    authScopes: { signedIn: true },
    description: "Revokes the token sent (this device), or every token of the user with allDevices.",
    args: { input: t.arg({ type: SignOutInput }) },
    resolve: async (_root, { input }, context) => {
      const allDevices = input?.allDevices ?? false;
      const viewer = context.viewer!;
      await signOut(context.db, { userId: viewer.id, tokenId: viewer.tokenId, expiresAt: viewer.tokenExpiresAt }, allDevices);
      return { allDevices };
    },
  }),
}));
