-- No approver is shipped any more (issue 10 review): the default role holders of migration
-- 1764547200011 named the sandbox's members (liqiang, wangfang, chenjing, liuyang) for every corp, so
-- in a real corp a member who happened to have one of those userids would have been asked to approve
-- offers. A corp now sets its own holders (src/approvals/routing.ts saveRoleAssignment, docs/approvals.md)
-- before configuring the offer template; until it does, submitting an offer is refused with the role
-- that is missing (RoutingError, recorded as approval.submit_failed). The sandbox, the demo and the
-- tests seed their own corp's holders. The default *rules* stay: they name roles, not people.
DELETE FROM approval_role_assignments WHERE corp_id = '*';
