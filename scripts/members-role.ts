import { loadDotEnvOnce } from '../src/config/dotenv';
import { parseArgs } from 'node:util';
import { Pool } from 'pg';
import { createLedger } from '../src/evidence';
import { grantRole, isMemberRole, MEMBER_ROLES, revokeRole } from '../src/members';

/**
 * `npm run members:role -- grant|revoke <role> <userid> --as <userid>` — gives or takes a HireLedger
 * role (today: `legal`, 法务, who may export evidence). The change and its member.role_* record on the
 * member's stream commit together; `--as` is the member who decides it. Exit 0 done (or already so),
 * 1 refused.
 */
const USAGE = `usage: npm run members:role -- grant|revoke <${MEMBER_ROLES.join('|')}> <userid> --as <userid>\n`;

async function main(): Promise<number> {
  loadDotEnvOnce();
  const { values, positionals } = parseArgs({
    options: { as: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const [action, role, userid] = positionals;
  if (positionals.length !== 3 || (action !== 'grant' && action !== 'revoke') || !role || !userid)
    throw new Error('name an action (grant or revoke), a role and a userid');
  if (!isMemberRole(role)) throw new Error(`unknown role ${JSON.stringify(role)} (roles: ${MEMBER_ROLES.join(', ')})`);
  if (!values.as) throw new Error('--as is required (the userid of who decides)');
  const url = process.env['DATABASE_URL'];
  if (!url) throw new Error('DATABASE_URL is required but not set');
  const corpId = process.env['WECOM_CORP_ID'];
  if (!corpId) throw new Error('WECOM_CORP_ID is required but not set');
  const pool = new Pool({ connectionString: url, max: 2 });
  pool.on('error', () => undefined);
  const ledger = createLedger({ pool });
  try {
    const req = { userid, role, by: values.as };
    const outcome = action === 'grant' ? await grantRole(ledger, corpId, req) : await revokeRole(ledger, corpId, req);
    process.stderr.write(`${action} ${role} ${userid}: ${outcome}\n`);
    return 0;
  } finally {
    await ledger.close();
    await pool.end();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`members:role: ${(err as Error).message}\n${USAGE}`);
    process.exit(1);
  },
);
