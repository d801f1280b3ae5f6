/**
 * State of the 群聊会话 (appchat, docs 90245/90247/90248) and 群机器人 webhook stand-ins: the groups, the
 * robots, every message posted to either, and the network faults only these endpoints honour.
 *
 * HireLedger posts evidence checkpoints here to have them witnessed outside its database (DECISIONS 7), so
 * every accepted message is kept, in order, for tests and the demo to read back (`sandbox.state.appchat`,
 * or the admin API in routes/appchat.ts).
 */
import { randomBytes } from 'node:crypto';
import type { SandboxSeed, SeedAppchat, SeedRobot } from './seed';
import type { Clock } from './state';

export interface AppChat {
  chatid: string;
  name: string;
  owner: string;
  /** Lower-cased userids (WeCom compares them case-insensitively and returns them lower-cased). */
  userlist: string[];
  /** AgentID of the self-built app that created the group; only that app may read or post (86008 otherwise). */
  createdByAgentId: number;
  createdAtMs: number;
  messages: PostedMessage[];
}

export interface Robot {
  key: string;
  name: string;
  /** The group the robot was added to (shown on the console; WeCom never tells the sender). */
  chatName: string;
  /** Removed from its group by an admin: the webhook URL answers 93000 from then on. */
  removed: boolean;
  /** Times of accepted sends in the last minute, for the 20 messages/min limit. */
  sendTimes: number[];
  messages: PostedMessage[];
}

/** One message as the group members see it, plus the request exactly as received. */
export interface PostedMessage {
  /** 1-based, per group or robot. */
  seq: number;
  msgtype: string;
  /** text.content or markdown.content. */
  content: string;
  atMs: number;
  request: Record<string, unknown>;
}

export type NetworkFaultPath = 'appchat/create' | 'appchat/get' | 'appchat/send' | 'webhook/send' | '*';

export const NETWORK_FAULT_PATHS: readonly NetworkFaultPath[] = [
  'appchat/create',
  'appchat/get',
  'appchat/send',
  'webhook/send',
  '*',
];

/**
 * A failure below the JSON layer: `timeout` never answers (the client's timeout fires), `reset` cuts the
 * connection. With `deliver` the request is processed first (the message IS posted) and only the answer is
 * lost: the case where a sender cannot know whether its message arrived.
 */
export interface NetworkFault {
  id: number;
  path: NetworkFaultPath;
  mode: 'timeout' | 'reset';
  deliver: boolean;
  remaining: number;
  hits: number;
}

/** Robot messages per minute (群机器人配置说明: 每个机器人发送的消息不能超过20条/分钟). */
export const ROBOT_PER_MINUTE = 20;

export class AppchatState {
  readonly chats = new Map<string, AppChat>();
  /** Keyed by the webhook key. */
  readonly robots = new Map<string, Robot>();
  networkFaults: NetworkFault[] = [];
  /**
   * WeCom answers appchat/* with 60011 unless the app's visible scope is the root department (权限说明,
   * doc 90245). Off unless the seed turns it on, because the default seed's scope is departments 2–4.
   */
  requireRootScope: boolean;
  private faultSeq = 0;

  constructor(
    seed: SandboxSeed,
    private readonly clock: Clock,
  ) {
    this.requireRootScope = seed.appchatRequiresRootScope ?? false;
    for (const c of seed.appchats ?? []) this.addSeedChat(c);
    for (const r of seed.robots ?? []) this.addRobot(r);
  }

  private addSeedChat(c: SeedAppchat): void {
    this.chats.set(c.chatid, {
      chatid: c.chatid,
      name: c.name,
      owner: c.owner.toLowerCase(),
      userlist: c.userlist.map((u) => u.toLowerCase()),
      createdByAgentId: c.created_by_agentid,
      createdAtMs: this.clock(),
      messages: [],
    });
  }

  createChat(input: { chatid: string | undefined; name: string; owner: string; userlist: string[]; agentId: number }): AppChat {
    const chatid = input.chatid ?? this.randomChatId();
    const chat: AppChat = {
      chatid,
      name: input.name,
      owner: input.owner,
      userlist: input.userlist,
      createdByAgentId: input.agentId,
      createdAtMs: this.clock(),
      messages: [],
    };
    this.chats.set(chatid, chat);
    return chat;
  }

  /** WeCom's generated ids look like `wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA`: `wr` + alphanumerics, ≤ 32 chars. */
  private randomChatId(): string {
    for (;;) {
      const id = `wr${randomBytes(24)
        .toString('base64')
        .replace(/[^0-9A-Za-z]/g, '')
        .slice(0, 28)}`;
      if (id.length === 30 && !this.chats.has(id)) return id;
    }
  }

  addRobot(r: SeedRobot): Robot {
    const robot: Robot = { key: r.key, name: r.name, chatName: r.chat_name, removed: false, sendTimes: [], messages: [] };
    this.robots.set(r.key, robot);
    return robot;
  }

  /** A fresh webhook key, shaped like WeCom's (a UUID). */
  static newRobotKey(): string {
    const h = randomBytes(16).toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  post(target: { messages: PostedMessage[] }, msgtype: string, content: string, request: Record<string, unknown>): PostedMessage {
    const m: PostedMessage = { seq: target.messages.length + 1, msgtype, content, atMs: this.clock(), request };
    target.messages.push(m);
    return m;
  }

  /** false when the robot already sent 20 messages in the last 60 s; otherwise counts this one. */
  robotAllowance(robot: Robot): boolean {
    const now = this.clock();
    robot.sendTimes = robot.sendTimes.filter((t) => now - t < 60_000);
    if (robot.sendTimes.length >= ROBOT_PER_MINUTE) return false;
    robot.sendTimes.push(now);
    return true;
  }

  // ---------------------------------------------------------------- network faults

  addNetworkFault(path: NetworkFaultPath, mode: NetworkFault['mode'], deliver: boolean, count: number): NetworkFault {
    const f: NetworkFault = { id: ++this.faultSeq, path, mode, deliver, remaining: count, hits: 0 };
    this.networkFaults.push(f);
    return f;
  }

  /** Consumes one matching network fault for this path, if any. */
  takeNetworkFault(path: Exclude<NetworkFaultPath, '*'>): NetworkFault | undefined {
    const f = this.networkFaults.find((x) => x.remaining > 0 && (x.path === path || x.path === '*'));
    if (!f) return undefined;
    f.remaining -= 1;
    f.hits += 1;
    return f;
  }
}
