// The membership operations the tests send (issue 13), typed by GraphQL Code Generator.
import { graphql } from "../generated/gql.ts";

export const InviteCollaborator = graphql(`
  mutation InviteCollaborator($input: InviteCollaboratorInput!) {
    inviteCollaborator(input: $input) {
      token
      replayed
      invitation { id email role status expiresAt invitedBy { username } }
      story { revision }
      event { type payload actor { username } }
    }
  }
`);

export const AcceptInvitation = graphql(`
  mutation AcceptInvitation($input: AcceptInvitationInput!) {
    acceptInvitation(input: $input) { role story { id title viewerRole } event { type actor { id username } } }
  }
`);

export const DeclineInvitation = graphql(`
  mutation DeclineInvitation($input: DeclineInvitationInput!) {
    declineInvitation(input: $input) { declined }
  }
`);

export const RevokeInvitation = graphql(`
  mutation RevokeInvitation($input: RevokeInvitationInput!) {
    revokeInvitation(input: $input) { event { type } }
  }
`);

export const ChangeRole = graphql(`
  mutation ChangeRole($input: ChangeRoleInput!) {
    changeRole(input: $input) { story { revision collaborators { user { id } role } } event { type actor { username } } }
  }
`);

export const RemoveCollaborator = graphql(`
  mutation RemoveCollaborator($input: RemoveCollaboratorInput!) {
    removeCollaborator(input: $input) { story { collaborators { user { id } role } } event { type payload } }
  }
`);

export const LeaveStory = graphql(`
  mutation LeaveStory($input: LeaveStoryInput!) {
    leaveStory(input: $input) { leftStoryId }
  }
`);

export const TransferOwnership = graphql(`
  mutation TransferOwnership($input: TransferOwnershipInput!) {
    transferOwnership(input: $input) { story { owner { id } viewerRole collaborators { user { id } role } } }
  }
`);

export const StoryMembers = graphql(`
  query StoryMembers($id: ID!) {
    story(id: $id) {
      id
      viewerRole
      owner { id username }
      collaborators { user { id username email } role since invitedBy { username } }
    }
  }
`);

export const StoryInvitations = graphql(`
  query StoryInvitations($id: ID!, $pending: Boolean) {
    story(id: $id) { invitations(pending: $pending) { id email role status } }
  }
`);

export const MyStories = graphql(`
  query MyStories {
    stories(first: 50) { edges { node { id title viewerRole } } }
    viewer { stories(first: 50) { edges { node { id viewerRole } } } }
  }
`);

export const StoryLog = graphql(`
  query StoryLog($id: ID!) {
    story(id: $id) { events(first: 100) { type payload actor { username } } }
  }
`);

export const Nodes = graphql(`
  query Nodes($ids: [ID!]!) { nodes(ids: $ids) { id } }
`);
