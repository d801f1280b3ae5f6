/**
 * 群聊会话 appchat/create, appchat/get, appchat/send (docs 90245, 90247, 90248) and the 群机器人 webhook
 * `/cgi-bin/webhook/send?key=KEY`, plus their admin API (what was posted, robots, network faults).
 *
 * Behaviour reproduced from the docs and from answers seen in the wild:
 *  - appchat is for self-built apps whose visible scope is the root department: 60011 otherwise (a 2020
 *    answer to appchat/create; the docs' 权限说明). Enforced when the seed or the admin API asks for it,
 *    because the default seed's scope is departments 2–4;
 *  - create: userlist 2–2000 members (86006, also what WeCom answers when userlist is absent), chatid ≤ 32
 *    characters of 0-9a-zA-Z (86205 too long, 86001 other characters), unique (86215), members must exist
 *    and be active (86216), owner must be in userlist (86207; absent → a member is picked), name longer than
 *    50 characters is cut (not refused);
 *  - get and send only on groups this app created: 86008 for a group another app made, 86003 for an unknown
 *    chatid, 86201 without chatid;
 *  - send: the answer is just `{"errcode":0,"errmsg":"ok"}` (no msgid); text/markdown content ≤ 2048 bytes:
 *    45002, the global "content size out of limit" code WeCom answers app messages with (doc 90313; the
 *    appchat page names no code of its own);
 *  - webhook: no access_token, the key is the credential; unknown or removed robot → 93000; 20 messages a
 *    minute per robot → 45009; text ≤ 2048 bytes and markdown ≤ 4096 bytes → 40058 with errmsg
 *    "text.content exceed max length 2048" (the form real robots answer in; they were seen enforcing 5120 on
 *    text in 2021 while the doc says 2048, and the sandbox holds to the doc).
 *
 * Errcode faults come from the shared /sandbox/admin/faults (the server's onRequest hook). These endpoints
 * also honour /sandbox/admin/network-faults: no answer (`timeout`) or a cut connection (`reset`), optionally
 * after the message was posted (`deliver`), so a test can show "witness unreachable" and "posted, but the
 * answer was lost".
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Socket } from 'node:net';
import { AdminError, type SandboxContext } from '../actions';
import { isRecord } from '../applydata';
import {
  AppchatState,
  NETWORK_FAULT_PATHS,
  type AppChat,
  type NetworkFaultPath,
  type PostedMessage,
  type Robot,
} from '../appchat';
import { OK, WecomApiError } from '../errors';
import type { SandboxState } from '../state';
import { bodyOf, optInt, optString, queryOf, type Json } from './common';

const APPCHAT_CONTENT_MAX_BYTES = 2048;
const WEBHOOK_TEXT_MAX_BYTES = 2048;
const WEBHOOK_MARKDOWN_MAX_BYTES = 4096;
const NAME_MAX_CHARS = 50;

function rootScope(state: SandboxState): boolean {
  return state.visibleScope.departments.some((d) => state.departments.get(d)?.parentid === 0);
}

function checkScope(state: SandboxState): void {
  if (state.appchat.requireRootScope && !rootScope(state))
    throw new WecomApiError(60011, "appchat needs the app's visible scope to be the root department");
}

function ownChat(state: SandboxState, chatid: string | undefined): AppChat {
  if (chatid === undefined || chatid === '') throw new WecomApiError(86201);
  const chat = state.appchat.chats.get(chatid);
  if (!chat) throw new WecomApiError(86003);
  if (chat.createdByAgentId !== state.agentId) throw new WecomApiError(86008);
  return chat;
}

/** text or markdown content of a send request; other message types are not stood in for. */
function contentOf(body: Json): { msgtype: 'text' | 'markdown'; content: string } {
  const msgtype = optString(body, 'msgtype');
  if (msgtype !== 'text' && msgtype !== 'markdown') {
    throw new WecomApiError(40008, msgtype ? `the sandbox accepts text and markdown, not ${msgtype}` : undefined);
  }
  const part = body[msgtype];
  const content = isRecord(part) ? part['content'] : undefined;
  if (typeof content !== 'string' || content === '') throw new WecomApiError(44004);
  return { msgtype, content };
}

function chatView(state: SandboxState, c: AppChat): Json {
  return {
    chatid: c.chatid,
    name: c.name,
    owner: c.owner,
    userlist: c.userlist,
    created_by_agentid: c.createdByAgentId,
    created_by_this_app: c.createdByAgentId === state.agentId,
    created_at: c.createdAtMs,
    message_count: c.messages.length,
  };
}

function robotView(r: Robot): Json {
  return { key: r.key, name: r.name, chat_name: r.chatName, removed: r.removed, message_count: r.messages.length };
}

function messageView(m: PostedMessage): Json {
  return { seq: m.seq, msgtype: m.msgtype, content: m.content, at: m.atMs, request: m.request };
}

function param(req: FastifyRequest, name: string): string {
  const v = isRecord(req.params) ? req.params[name] : undefined;
  return typeof v === 'string' ? v : '';
}

function adminBody(req: FastifyRequest): Json {
  return isRecord(req.body) ? req.body : {};
}

function flag(v: unknown): boolean {
  return v === true || v === 'true' || v === '1' || v === 1;
}

export function registerAppchatRoutes(app: FastifyInstance, ctx: SandboxContext): void {
  const { state } = ctx;
  const chats = state.appchat;

  // Connections held open by `timeout` faults; cut before the server closes, or close() would wait for them.
  const held = new Set<Socket>();
  app.addHook('preClose', (done) => {
    for (const s of held) s.destroy();
    held.clear();
    done();
  });

  /** Runs `handle`, unless a network fault for `path` says to answer nothing or cut the connection. */
  async function answer(
    req: FastifyRequest,
    reply: FastifyReply,
    path: Exclude<NetworkFaultPath, '*'>,
    handle: () => Json,
  ): Promise<Json | FastifyReply> {
    const fault = chats.takeNetworkFault(path);
    if (!fault) return handle();
    if (fault.deliver) {
      try {
        handle();
      } catch {
        // The answer is lost either way.
      }
    }
    reply.hijack();
    const socket = req.raw.socket;
    if (fault.mode === 'reset') {
      socket.destroy();
    } else {
      held.add(socket);
      socket.once('close', () => held.delete(socket));
    }
    return reply;
  }

  // ---------------------------------------------------------------- appchat (90245, 90247, 90248)

  app.post('/cgi-bin/appchat/create', async (req, reply) =>
    answer(req, reply, 'appchat/create', () => {
      const body = bodyOf(req);
      checkScope(state);
      const raw = body['userlist'];
      if (!Array.isArray(raw)) throw new WecomApiError(86006, 'userlist missing');
      const userlist: string[] = [];
      for (const u of raw) {
        if (typeof u !== 'string' || u.trim() === '') throw new WecomApiError(86216, 'userlist items must be userids');
        const id = u.trim().toLowerCase();
        if (!userlist.includes(id)) userlist.push(id);
      }
      if (userlist.length < 2 || userlist.length > 2000)
        throw new WecomApiError(86006, `userlist has ${userlist.length} members, 2 to 2000 allowed`);

      const chatid = optString(body, 'chatid');
      if (chatid !== undefined && chatid !== '') {
        if (chatid.length > 32) throw new WecomApiError(86205);
        if (!/^[0-9A-Za-z]+$/.test(chatid)) throw new WecomApiError(86001, 'only 0-9a-zA-Z');
        if (chats.chats.has(chatid)) throw new WecomApiError(86215);
      }
      for (const u of userlist) {
        // With the visible scope at the root (as WeCom requires), every active member is reachable.
        const m = state.member(u);
        if (!m || m.status === 2 || m.status === 5) throw new WecomApiError(86216, u);
      }
      const ownerIn = optString(body, 'owner');
      const owner = ownerIn === undefined || ownerIn === '' ? userlist[0] : ownerIn.toLowerCase();
      if (owner === undefined || !userlist.includes(owner)) throw new WecomApiError(86207);
      const name = [...(optString(body, 'name') ?? '')].slice(0, NAME_MAX_CHARS).join('');

      const chat = chats.createChat({
        chatid: chatid === '' ? undefined : chatid,
        name,
        owner,
        userlist,
        agentId: state.agentId,
      });
      return { ...OK, chatid: chat.chatid };
    }),
  );

  app.get('/cgi-bin/appchat/get', async (req, reply) =>
    answer(req, reply, 'appchat/get', () => {
      checkScope(state);
      const chat = ownChat(state, queryOf(req)['chatid']);
      return {
        ...OK,
        chat_info: { chatid: chat.chatid, name: chat.name, owner: chat.owner, userlist: chat.userlist, chat_type: 0 },
      };
    }),
  );

  app.post('/cgi-bin/appchat/send', async (req, reply) =>
    answer(req, reply, 'appchat/send', () => {
      const body = bodyOf(req);
      checkScope(state);
      const chat = ownChat(state, optString(body, 'chatid'));
      const { msgtype, content } = contentOf(body);
      if (Buffer.byteLength(content, 'utf8') > APPCHAT_CONTENT_MAX_BYTES)
        throw new WecomApiError(45002, `${msgtype}.content exceeds ${APPCHAT_CONTENT_MAX_BYTES} bytes`);
      const safe = optInt(body, 'safe');
      if (safe !== undefined && safe !== 0 && safe !== 1) throw new WecomApiError(40058, 'safe must be 0 or 1');
      chats.post(chat, msgtype, content, body);
      // As published: no msgid, nothing else.
      return { ...OK };
    }),
  );

  // ---------------------------------------------------------------- 群机器人 webhook

  app.post('/cgi-bin/webhook/send', async (req, reply) =>
    answer(req, reply, 'webhook/send', () => {
      const key = queryOf(req)['key'];
      const robot = key ? chats.robots.get(key) : undefined;
      // Never echo the key: it is the robot's only credential.
      if (!robot || robot.removed) throw new WecomApiError(93000);
      const body = bodyOf(req);
      const { msgtype, content } = contentOf(body);
      const max = msgtype === 'text' ? WEBHOOK_TEXT_MAX_BYTES : WEBHOOK_MARKDOWN_MAX_BYTES;
      if (Buffer.byteLength(content, 'utf8') > max) throw new WecomApiError(40058, `${msgtype}.content exceed max length ${max}`);
      const part = body[msgtype];
      for (const list of ['mentioned_list', 'mentioned_mobile_list']) {
        const v = isRecord(part) ? part[list] : undefined;
        if (v !== undefined && !(Array.isArray(v) && v.every((x) => typeof x === 'string')))
          throw new WecomApiError(40058, `${msgtype}.${list} must be a list of strings`);
      }
      if (!chats.robotAllowance(robot)) throw new WecomApiError(45009, 'robot sends at most 20 messages a minute');
      chats.post(robot, msgtype, content, body);
      return { ...OK };
    }),
  );

  // ---------------------------------------------------------------- admin

  app.get('/sandbox/admin/appchats', async () => ({
    root_scope_required: chats.requireRootScope,
    visible_scope_is_root: rootScope(state),
    appchats: [...chats.chats.values()].map((c) => chatView(state, c)),
  }));

  app.get('/sandbox/admin/appchats/:chatid/messages', async (req) => {
    const chat = chats.chats.get(param(req, 'chatid'));
    if (!chat) throw new AdminError(404, `群聊 ${param(req, 'chatid')} 不存在`);
    return { ...chatView(state, chat), messages: chat.messages.map(messageView) };
  });

  app.post('/sandbox/admin/appchats/root-scope', async (req) => {
    chats.requireRootScope = flag(adminBody(req)['required']);
    return { ok: true, root_scope_required: chats.requireRootScope, visible_scope_is_root: rootScope(state) };
  });

  app.get('/sandbox/admin/webhooks', async () => ({ webhooks: [...chats.robots.values()].map(robotView) }));

  app.post('/sandbox/admin/webhooks', async (req) => {
    const body = adminBody(req);
    const key = typeof body['key'] === 'string' && body['key'] !== '' ? body['key'] : AppchatState.newRobotKey();
    if (chats.robots.has(key)) throw new AdminError(409, '该 webhook key 已存在');
    const name = typeof body['name'] === 'string' && body['name'] !== '' ? body['name'] : '群机器人';
    const chatName = typeof body['chat_name'] === 'string' && body['chat_name'] !== '' ? body['chat_name'] : '存证检查点';
    return { ok: true, ...robotView(chats.addRobot({ key, name, chat_name: chatName })) };
  });

  app.delete('/sandbox/admin/webhooks/:key', async (req) => {
    const robot = chats.robots.get(param(req, 'key'));
    if (!robot) throw new AdminError(404, '机器人不存在');
    robot.removed = true;
    return { ok: true, ...robotView(robot) };
  });

  app.get('/sandbox/admin/webhooks/:key/messages', async (req) => {
    const robot = chats.robots.get(param(req, 'key'));
    if (!robot) throw new AdminError(404, '机器人不存在');
    return { ...robotView(robot), messages: robot.messages.map(messageView) };
  });

  app.get('/sandbox/admin/network-faults', async () => ({ network_faults: chats.networkFaults }));

  app.post('/sandbox/admin/network-faults', async (req) => {
    const body = adminBody(req);
    const path = NETWORK_FAULT_PATHS.find((p) => p === body['path']);
    if (!path) throw new AdminError(400, `path 取值：${NETWORK_FAULT_PATHS.join(', ')}`);
    const mode = body['mode'] === 'timeout' || body['mode'] === 'reset' ? body['mode'] : undefined;
    if (!mode) throw new AdminError(400, 'mode 取值：timeout（不应答）或 reset（断开连接）');
    const count = Number(body['count'] ?? 1);
    if (!Number.isInteger(count) || count < 1) throw new AdminError(400, 'count 必须是正整数');
    return { ok: true, network_fault: chats.addNetworkFault(path, mode, flag(body['deliver']), count) };
  });

  app.delete('/sandbox/admin/network-faults', async () => {
    chats.networkFaults = [];
    return { ok: true };
  });
}
