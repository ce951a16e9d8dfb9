// User, the viewer, and signing up, in and out. A user, and what signing up or in answers, is
// public: the answer reaches a client that has no token yet.
import { builder } from "../builder.ts";
import { PUBLIC } from "../closedByDefault.ts";
import { loadAll } from "../loaders.ts";
import type { User } from "../../generated/prisma/client.ts";
import { signIn, signUp } from "../../auth/accounts.ts";
import { signOut } from "../../auth/sessions.ts";
import { PASSWORD_MAX, PASSWORD_MIN } from "../../auth/passwordPolicy.ts";
import { storiesConnection, StoryConnection, trashConnection } from "./story.ts";
import { PAGE_ARGUMENTS } from "./paging.ts";

export const UserType = builder.objectRef<User>("User");

builder.node(UserType, {
  description: "A writer.",
  authScopes: PUBLIC,
  id: { resolve: (user) => user.id },
  loadMany: (ids, context) => loadAll(context.loaders.user, ids),
  fields: (t) => ({
    email: t.string({
      description: "Visible to that user only.",
      nullable: true,
      resolve: (user, _args, context) => (context.viewer?.id === user.id ? user.email : null),
    }),
    username: t.exposeString("username", { description: "The name the user goes by; not unique." }),
    createdAt: t.expose("createdAt", { type: "DateTime", description: "When the user signed up." }),
    stories: t.field({
      type: StoryConnection,
      description: "The user's stories, newest first: the viewer's own and those shared with them (Story.viewerRole); none for anyone else.",
      args: { first: t.arg.int({ description: PAGE_ARGUMENTS.first }), after: t.arg.string({ description: PAGE_ARGUMENTS.after }) },
      resolve: (user, args, context) => storiesConnection(context, user.id, args),
    }),
    trash: t.field({
      type: StoryConnection,
      description:
        "The viewer's own stories in the trash (deleteStory), the most recently deleted first, with trashedAt and purgeAt; " +
        "none for anyone else. Only their details are there (title, logline, genre, dates): restoreStory brings back the rest.",
      args: { first: t.arg.int({ description: PAGE_ARGUMENTS.first }), after: t.arg.string({ description: PAGE_ARGUMENTS.after }) },
      resolve: (user, args, context) => trashConnection(context, user.id, args),
    }),
  }),
});

const AuthPayload = builder.objectRef<{ token: string; expiresAt: number; user: User }>("AuthPayload").implement({
  description: "A signed-in session: the token to send, and whose it is.",
  authScopes: PUBLIC,
  fields: (t) => ({
    token: t.exposeString("token", { description: "Send as `Authorization: Bearer <token>`." }),
    expiresAt: t.field({ type: "DateTime", description: "When the token stops working: sign in again before.", resolve: (payload) => new Date(payload.expiresAt) }),
    user: t.field({ type: UserType, description: "The user the token signs in.", resolve: (payload) => payload.user }),
  }),
});

const SignOutPayload = builder.objectRef<{ allDevices: boolean }>("SignOutPayload").implement({
  description: "What signing out revoked.",
  fields: (t) => ({
    allDevices: t.exposeBoolean("allDevices", { description: "Whether every token of the user was revoked, or only the one sent." }),
  }),
});

const SignUpInput = builder.inputType("SignUpInput", {
  description: "A new account.",
  fields: (t) => ({
    email: t.string({ required: true, description: "What the user signs in with: one account per address, however it is typed." }),
    username: t.string({ required: true, description: "The name the user goes by; not empty." }),
    password: t.string({
      required: true,
      description: `${PASSWORD_MIN} to ${PASSWORD_MAX} characters; not a common or breached password, nor the email or username.`,
    }),
  }),
});

const SignInInput = builder.inputType("SignInInput", {
  description: "An account's credentials.",
  fields: (t) => ({
    email: t.string({ required: true, description: "The email the account was made with." }),
    password: t.string({ required: true, description: "The account's password." }),
  }),
});

const SignOutInput = builder.inputType("SignOutInput", {
  description: "Which tokens to revoke.",
  fields: (t) => ({
    allDevices: t.boolean({ description: "Revoke every token of the user, not only the one sent. Default false." }),
  }),
});

builder.queryField("viewer", (t) =>
  t.field({
    type: UserType,
    nullable: true,
    skipTypeScopes: true,
    description: "The signed-in user, or null.",
    resolve: (_root, _args, context) => (context.viewer ? context.loaders.user.load(context.viewer.id) : null),
  }),
);

builder.mutationFields((t) => ({
  signUp: t.field({
    type: AuthPayload,
    skipTypeScopes: true,
    description:
      "Makes an account and signs it in: EMAIL_TAKEN when the email has one. Throttled per client address and per email " +
      "(RATE_LIMITED with retryAfter). LOCAL_AUTH_DISABLED when the server's accounts are Supabase Auth's.",
    args: { input: t.arg({ type: SignUpInput, required: true, description: "The new account." }) },
    resolve: async (_root, { input }, context) => {
      const user = await signUp(context, input, context.client.address);
      return { ...(await context.tokens.issue(user)), user };
    },
  }),
  signIn: t.field({
    type: AuthPayload,
    skipTypeScopes: true,
    description:
      "Signs in: INVALID_CREDENTIALS when the email or password is wrong. Throttled per client address and per email; " +
      "failures in a row lock the email out from that address for longer each time. LOCAL_AUTH_DISABLED when the server's " +
      "accounts are Supabase Auth's.",
    args: { input: t.arg({ type: SignInInput, required: true, description: "The account's credentials." }) },
    resolve: async (_root, { input }, context) => {
      const user = await signIn(context, input, context.client.address);
      return { ...(await context.tokens.issue(user)), user };
    },
  }),
  signOut: t.withAuth({ signedIn: true }).field({
    type: SignOutPayload,
    description:
      "Revokes the token sent (this device; a Supabase token's whole session), or every token of the user with allDevices " +
      "(for a Supabase user: every session signed in until now).",
    args: { input: t.arg({ type: SignOutInput, description: "Omit to revoke the token sent only." }) },
    resolve: async (_root, { input }, context) => {
      const allDevices = input?.allDevices ?? false;
      const { viewer } = context;
      await signOut(context.db, { userId: viewer.id, tokenId: viewer.tokenId, revokedUntil: viewer.revokedUntil }, allDevices);
      return { allDevices };
    },
  }),
}));
