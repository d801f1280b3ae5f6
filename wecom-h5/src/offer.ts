import './style.css';
import './offer.css';

// The candidate's offer acceptance page (docs/acceptance.md). No WeCom login: candidates are WeChat
// users. The link's token is in the URL fragment (#t=…), which browsers never send in a request
// line or a Referer; the page posts it to the API in the body. The terms are shown exactly as the
// server rendered them (one text, whose SHA-256 the server recomputes when the candidate answers).

interface ViewResponse {
  link_id: string;
  offer_id: string;
  version: number;
  content_sha256: string;
  company: string | null;
  position: { id: string; title: string | null; department: string | null };
  deadline: string | null;
  deadline_shown: string | null;
  link_expires_at: string;
  link_expires_at_shown: string;
  shown_text: string;
  shown_text_sha256: string;
  decline_reasons: { code: string; label: string }[];
}

interface AnswerResponse {
  outcome: 'accepted' | 'declined';
  answered_at_shown: string;
}

class PageError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(message: string, status: number, code: string) {
    super(message);
    this.name = 'PageError';
    this.status = status;
    this.code = code;
  }
}

/** Refusals after which the link can do nothing more: the page shows only the message. */
const FINAL_CODES = new Set([
  'link_invalid',
  'link_expired',
  'link_not_found',
  'link_used',
  'link_superseded',
  'offer_not_open',
  'offer_deadline_passed',
]);

async function post<T>(path: string, body: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method: 'POST',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body),
    });
  } catch {
    throw new PageError('网络连接失败，请检查网络后重试', 0, 'network');
  }
  let parsed: unknown = null;
  try {
    parsed = await res.json();
  } catch {
    // an answer that is not JSON: handled below by its status
  }
  if (!res.ok) {
    const b = (parsed ?? {}) as { error?: unknown; message?: unknown };
    const message =
      typeof b.message === 'string' ? b.message : res.status >= 500 ? '服务暂时不可用，请稍后再试' : '请求失败，请稍后再试';
    throw new PageError(message, res.status, typeof b.error === 'string' ? b.error : `http_${res.status}`);
  }
  return parsed as T;
}

const TOKEN_KEY = 'hireledger.offer-link';

/**
 * The link's token: from the fragment on arrival, then kept in this tab's sessionStorage and taken
 * out of the address bar, so the page's URL (WeChat's "copy link" and "forward", browser history)
 * no longer carries it; a reload in the same tab still works.
 */
function tokenFromHash(): string | null {
  const ok = (t: string | null): t is string => t !== null && /^[A-Za-z0-9_-]{16,240}$/.test(t);
  const fromHash = new URLSearchParams(location.hash.replace(/^#/, '')).get('t');
  if (ok(fromHash)) {
    try {
      sessionStorage.setItem(TOKEN_KEY, fromHash);
      history.replaceState(null, '', location.pathname + location.search);
    } catch {
      // Storage refused (private mode): the token stays in the address, the page still works.
    }
    return fromHash;
  }
  let kept: string | null = null;
  try {
    kept = sessionStorage.getItem(TOKEN_KEY);
  } catch {
    kept = null;
  }
  return ok(kept) ? kept : null;
}

/** SHA-256 (hex) of the text as shown; null where the browser offers no WebCrypto (not a secure context). */
async function sha256Hex(text: string): Promise<string | null> {
  if (!globalThis.crypto?.subtle) return null;
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: { className?: string; text?: string } = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.className) node.className = props.className;
  if (props.text !== undefined) node.textContent = props.text;
  for (const child of children) node.append(child);
  return node;
}

function header(subtitle: string): HTMLElement {
  return el(
    'header',
    { className: 'topbar' },
    el('h1', { className: 'title', text: '录用通知确认' }),
    el('p', { className: 'subtitle', text: subtitle }),
  );
}

function screen(root: HTMLElement, title: string, message: string, kind: 'ok' | 'error' | 'info'): void {
  root.replaceChildren(
    header('HireLedger 招聘存证'),
    el(
      'main',
      { className: 'content' },
      el(
        'section',
        { className: `card notice notice--${kind}` },
        el('h2', { className: 'card__title', text: title }),
        el('p', { className: 'detail', text: message }),
      ),
    ),
  );
}

const FINAL_TITLES: Record<string, string> = {
  link_invalid: '链接无效',
  link_expired: '链接已过期',
  link_not_found: '链接不存在',
  link_used: '链接已使用',
  link_superseded: '链接已失效',
  offer_not_open: '该 offer 当前不能答复',
  offer_deadline_passed: '已过接受截止时间',
};

function field(label: string, input: HTMLElement, hint?: string): HTMLElement {
  const wrap = el('label', { className: 'field' }, el('span', { className: 'field__label', text: label }), input);
  if (hint) wrap.append(el('span', { className: 'field__hint', text: hint }));
  return wrap;
}

function render(root: HTMLElement, token: string, v: ViewResponse, shownHash: string): void {
  const message = el('p', { className: 'form-message', text: '' });
  message.setAttribute('role', 'alert');
  const fail = (err: unknown) => {
    if (err instanceof PageError && FINAL_CODES.has(err.code)) {
      screen(root, FINAL_TITLES[err.code] ?? '无法答复', err.message, 'error');
      return;
    }
    message.textContent = err instanceof PageError ? err.message : '发生未知错误，请稍后重试';
  };

  const terms = el('pre', { className: 'terms', text: v.shown_text });
  const termsCard = el(
    'section',
    { className: 'card' },
    el('h2', { className: 'card__title', text: '录用条款（经公司审批）' }),
    terms,
    el('p', { className: 'meta', text: `条款内容哈希（SHA-256）：${v.content_sha256}` }),
    el('p', { className: 'meta', text: `本页文本哈希（SHA-256）：${shownHash}` }),
  );

  const deadlineCard = el(
    'section',
    { className: 'card' },
    el('h2', { className: 'card__title', text: '接受截止时间' }),
    el('p', { className: 'deadline', text: v.deadline_shown ?? '未规定' }),
    el('p', { className: 'meta', text: `本链接有效期至 ${v.link_expires_at_shown}，仅可使用一次。` }),
  );

  // Accept: the candidate confirms who they are (LEGAL.md: who is behind the answer).
  const name = el('input', { className: 'input' });
  name.type = 'text';
  name.autocomplete = 'name';
  name.maxLength = 50;
  name.placeholder = '请输入您的真实姓名';
  const phone = el('input', { className: 'input' });
  phone.type = 'tel';
  phone.autocomplete = 'tel';
  phone.inputMode = 'tel';
  phone.maxLength = 20;
  phone.placeholder = '请输入您的手机号';
  const agree = el('input');
  agree.type = 'checkbox';
  const acceptBtn = el('button', { className: 'btn', text: '接受 offer' });
  acceptBtn.type = 'button';
  acceptBtn.addEventListener('click', () => {
    message.textContent = '';
    if (!agree.checked) {
      message.textContent = '请先勾选确认已阅读以上条款';
      return;
    }
    if (name.value.trim() === '' || phone.value.trim() === '') {
      message.textContent = '请填写姓名和手机号';
      return;
    }
    if (!window.confirm('确认接受该 offer？提交后不可更改。')) return;
    acceptBtn.disabled = true;
    post<AnswerResponse>('/h5/api/offer-link/accept', { token, name: name.value, phone: phone.value, shownTextSha256: shownHash })
      .then((r) =>
        screen(root, '已接受 offer', `您已于 ${r.answered_at_shown}接受该 offer，答复已存证。招聘专员会与您联系入职事宜。`, 'ok'),
      )
      .catch(fail)
      .finally(() => {
        acceptBtn.disabled = false;
      });
  });
  const acceptCard = el(
    'section',
    { className: 'card' },
    el('h2', { className: 'card__title', text: '确认身份（接受或拒绝都需要）' }),
    field('姓名', name),
    field('手机号', phone, '请填写招聘专员登记的手机号；手机号仅以加密摘要和部分隐藏的形式保存'),
    el('label', { className: 'check' }, agree, el('span', { text: '我已阅读并确认以上录用条款' })),
    acceptBtn,
  );

  // Decline: a reason (structured) and the candidate's own words.
  const reason = el('select', { className: 'input' });
  reason.append(el('option', { text: '请选择原因' }));
  (reason.firstChild as HTMLOptionElement).value = '';
  for (const r of v.decline_reasons) {
    const o = el('option', { text: r.label });
    o.value = r.code;
    reason.append(o);
  }
  const reasonText = el('textarea', { className: 'input textarea' });
  reasonText.maxLength = 2000;
  reasonText.rows = 3;
  reasonText.placeholder = '补充说明（选填）';
  const declineBtn = el('button', { className: 'btn btn--secondary', text: '拒绝 offer' });
  declineBtn.type = 'button';
  declineBtn.addEventListener('click', () => {
    message.textContent = '';
    if (reason.value === '') {
      message.textContent = '请选择拒绝原因';
      return;
    }
    // Declining ends the offer: the same confirmation of who is answering as for accepting.
    if (name.value.trim() === '' || phone.value.trim() === '') {
      message.textContent = '请先在上方填写姓名和手机号以确认身份';
      return;
    }
    if (!window.confirm('确认拒绝该 offer？提交后不可更改。')) return;
    declineBtn.disabled = true;
    post<AnswerResponse>('/h5/api/offer-link/decline', {
      token,
      name: name.value,
      phone: phone.value,
      reasonCode: reason.value,
      reason: reasonText.value,
    })
      .then((r) => screen(root, '已拒绝 offer', `您已于 ${r.answered_at_shown}拒绝该 offer，答复已存证。感谢您的时间。`, 'info'))
      .catch(fail)
      .finally(() => {
        declineBtn.disabled = false;
      });
  });
  const declineCard = el(
    'details',
    { className: 'card decline' },
    el('summary', { text: '不接受？拒绝该 offer' }),
    field('拒绝原因', reason),
    field('补充说明', reasonText),
    declineBtn,
  );

  const who = [v.company, v.position.title ?? v.position.id].filter((x): x is string => Boolean(x)).join(' · ');
  root.replaceChildren(
    header(who),
    el('main', { className: 'content' }, termsCard, deadlineCard, acceptCard, message, declineCard),
    el('footer', { className: 'footer', text: '时间均为北京时间（Asia/Shanghai）· HireLedger 招聘存证' }),
  );
}

async function mount(root: HTMLElement): Promise<void> {
  const token = tokenFromHash();
  if (!token) {
    screen(root, '链接不完整', '请使用招聘专员发给您的完整链接打开本页。', 'error');
    return;
  }
  screen(root, '正在加载…', '正在读取录用通知，请稍候。', 'info');
  try {
    const v = await post<ViewResponse>('/h5/api/offer-link/view', { token });
    const own = await sha256Hex(v.shown_text);
    // The page hashes what it shows; a text that does not hash to the server's value is not shown as the offer.
    if (own !== null && own !== v.shown_text_sha256) {
      screen(root, '内容校验失败', '页面内容与服务器记录不一致，请刷新重试或联系招聘专员。', 'error');
      return;
    }
    render(root, token, v, own ?? v.shown_text_sha256);
  } catch (err) {
    if (err instanceof PageError) {
      screen(root, FINAL_TITLES[err.code] ?? (err.status === 429 ? '操作过于频繁' : '无法打开'), err.message, 'error');
    } else {
      screen(root, '无法打开', '发生未知错误，请稍后重试', 'error');
    }
  }
}

const root = document.getElementById('app');
if (root) void mount(root);
