// User, the viewer, and signing up and in.
import { builder } from "../builder.ts";
import { loadAll } from "../loaders.ts";
import type { User } from "../../generated/prisma/client.ts";
import { signIn, signUp } from "../../auth/accounts.ts";
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

const AuthPayload = builder.objectRef<{ token: string; user: User }>("AuthPayload").implement({
  fields: (t) => ({
    token: t.exposeString("token", { description: "Send as `Authorization: Bearer <token>`." }),
    user: t.field({ type: UserType, resolve: (payload) => payload.user }),
  }),
});

const SignUpInput = builder.inputType("SignUpInput", {
  fields: (t) => ({
    email: t.string({ required: true }),
    username: t.string({ required: true }),
    password: t.string({ required: true, description: "At least 8 characters." }),
  }),
});

const SignInInput = builder.inputType("SignInInput", {
  fields: (t) => ({
    email: t.string({ required: true }),
    password: t.string({ required: true }),
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
    args: { input: t.arg({ type: SignUpInput, required: true }) },
    resolve: async (_root, { input }, context) => {
      const user = await signUp(context.db, input);
      return { token: await context.tokens.issue(user.id), user };
    },
  }),
  signIn: t.field({
    type: AuthPayload,
    args: { input: t.arg({ type: SignInInput, required: true }) },
    resolve: async (_root, { input }, context) => {
      const user = await signIn(context.db, input);
      return { token: await context.tokens.issue(user.id), user };
    },
  }),
}));
