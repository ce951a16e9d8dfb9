// User, the viewer, and signing up, in and out. A user, and what signing up or in answers, is
// public: the answer reaches a client that has no token yet.
import { builder } from "../builder.ts";
import { PUBLIC } from "../closedByDefault.ts";
import { loadAll } from "../loaders.ts";
import type { User } from "../../generated/prisma/client.ts";
import { signIn, signUp } from "../../auth/accounts.ts";
import { signOut } from "../../auth/sessions.ts";
import { FRESH_TOKEN_MS, deleteAccount } from "../../commands/accountCommands.ts";
import { ACCOUNT_EXPORT_PATHS, accountExportFileName, type AccountExportFormat } from "../../server/accountExportRoute.ts";
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

const AccountExportFormatEnum = builder.enumType("AccountExportFormat", {
  description: "What a writer's own data is downloaded as.",
  values: {
    JSON: { value: "JSON", description: "One JSON document: the account, memberships, comments elsewhere, generations, and every owned story's export under `stories`." },
    ZIP: { value: "ZIP", description: "A ZIP: `account.json`, and `stories/<title>-<id>.json` per owned story, each the story's own JSON export." },
  } as const,
});

const ExportAccountInput = builder.inputType("ExportAccountInput", {
  description: "How to download the viewer's data.",
  fields: (t) => ({
    format: t.field({ type: AccountExportFormatEnum, required: true, description: "JSON or ZIP." }),
  }),
});

const AccountExportDownload = builder.objectRef<{ format: AccountExportFormat }>("AccountExportDownload").implement({
  description:
    "Where the viewer's data is downloaded: GET `path` on this server with the same `Authorization: Bearer <token>` header (never " +
    "the token in the URL). The body is streamed as it is read, as of the moment the download begins.",
  fields: (t) => ({
    format: t.field({ type: AccountExportFormatEnum, description: "The format asked for.", resolve: (d) => d.format }),
    path: t.string({ description: "The path to GET, e.g. `/account/export.zip`.", resolve: (d) => ACCOUNT_EXPORT_PATHS[d.format] }),
    method: t.string({ description: "Always GET.", resolve: () => "GET" }),
    filename: t.string({ description: "The name the file is saved under.", resolve: (d) => accountExportFileName(d.format) }),
    mimeType: t.string({ description: "application/json or application/zip.", resolve: (d) => (d.format === "ZIP" ? "application/zip" : "application/json") }),
  }),
});

const DeleteAccountInput = builder.inputType("DeleteAccountInput", {
  description: "Proof that the account's owner asks.",
  fields: (t) => ({
    password: t.string({
      description:
        "The account's password: required for an account that has one. A Supabase Auth user (no password here) sends instead a token " +
        `issued within the last ${FRESH_TOKEN_MS / 60_000} minutes (sign in again first).`,
    }),
  }),
});

const DeleteAccountPayload = builder.objectRef<{ erasedStories: number; anonymisedStories: number }>("DeleteAccountPayload").implement({
  description: "What the erasure did.",
  fields: (t) => ({
    deleted: t.boolean({ description: "Always true: the account is gone.", resolve: () => true }),
    erasedStories: t.exposeInt("erasedStories", { description: "The stories the user owned, erased for good." }),
    anonymisedStories: t.exposeInt("anonymisedStories", { description: "Others' stories the user left, where their comments lost their text and their actions an author." }),
  }),
});

builder.mutationFields((t) => ({
  exportAccount: t.withAuth({ signedIn: true }).field({
    type: AccountExportDownload,
    description:
      "Where to download everything of the viewer's: every story they own (full log, versions, comments), generations' provenance, " +
      "their account, memberships and comments in others' stories. Stories shared with them are not theirs to take: not included.",
    args: { input: t.arg({ type: ExportAccountInput, required: true, description: "The format." }) },
    resolve: (_root, { input }) => ({ format: input.format }),
  }),
  deleteAccount: t.withAuth({ signedIn: true }).field({
    type: DeleteAccountPayload,
    description:
      "Erases the viewer's account for good: the user, every story they own with its history, their sessions, generations and error " +
      "logs. In others' stories they leave, their pending invitations are declined, their comments lose their text, and they are named " +
      "by an anonymous id. Spend and usage figures stay, under that anonymous id. INVALID_CREDENTIALS for a wrong password (or a " +
      `token older than ${FRESH_TOKEN_MS / 60_000} minutes for an account without one); throttled as signIn is. Every token of the user is refused afterwards.`,
    args: { input: t.arg({ type: DeleteAccountInput, required: true, description: "The password, when the account has one." }) },
    resolve: async (_root, { input }, context) => {
      const { viewer } = context;
      return deleteAccount(context, { userId: viewer.id, tokenIssuedAt: viewer.tokenIssuedAt, password: input.password ?? null, address: context.client.address });
    },
  }),
}));
