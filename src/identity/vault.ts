/**
 * The vault: AES-256-GCM encryption of tenants' provider keys (bring your own key), with a keyring of master
 * keys from configuration so master keys can be rotated.
 *
 * - Keyring: `{ current: 'k2', keys: { k1: '<32 bytes, base64 or hex>', k2: '…' } }`, from the `keys` option or
 *   the `DUH_VAULT_KEYS` environment variable (the same JSON).
 * - Each secret is encrypted under the **current** key with a fresh 96-bit IV; the record keeps the key id, so
 *   it is decrypted with the key that encrypted it.
 * - Additional authenticated data binds a ciphertext to its tenant and provider: a row copied into another
 *   tenant (or relabelled as another provider) fails to decrypt instead of handing over the key.
 * - Rotation: add a new key, make it `current`, call {@link Vault.rotate} (every stored provider key is
 *   re-encrypted under it), then drop the old key from the configuration.
 *
 * Errors name key ids, never key material or plaintext. The keys live in a closure: a vault serialises as
 * `{ current, keyIds }` and shows nothing else in logs.
 *
 * @module
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { DuhError, InvalidOptionError } from '../errors.js';
import { requireStorageMethod, type StorageDriver, type StoredProviderKey } from '../storage.js';

/** Master keys by id, and which one encrypts new secrets. */
export interface VaultKeyring {
  /** The id of the key new secrets are encrypted with. */
  current: string;
  /** 32-byte keys, as base64 (standard or url-safe) or 64 hex digits. */
  keys: Readonly<Record<string, string>>;
}

/** Options of {@link createVault}. */
export interface VaultOptions {
  /** The keyring, or its JSON. @default JSON.parse(process.env.DUH_VAULT_KEYS) */
  keys?: VaultKeyring | string;
  /** Where `DUH_VAULT_KEYS` is read from. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
}

/** An encrypted secret: base64 fields and the id of the master key that encrypted it. */
export interface EncryptedSecret {
  ciphertext: string;
  iv: string;
  tag: string;
  keyId: string;
}

/** What {@link Vault.rotate} did. */
export interface RotationReport {
  /** Provider keys re-encrypted under the current key. */
  rotated: number;
  /** Provider keys already under the current key. */
  current: number;
  /** Provider keys changed or deleted while the rotation ran (left as they were; run it again). */
  skipped: number;
}

/** Encrypts and decrypts secrets with the configured master keys. */
export interface Vault {
  /** The id of the key new secrets are encrypted with. */
  readonly currentKeyId: string;
  /** Ids of every configured key. */
  readonly keyIds: readonly string[];
  /** Encrypt `plaintext` under the current key, bound to `context` (authenticated, not secret). */
  encrypt(plaintext: string, context: string): EncryptedSecret;
  /**
   * Decrypt a secret with the key it names.
   * @throws {VaultError} naming the key id when that key is not configured, or when the ciphertext does not
   *   authenticate (another key under that id, a tampered record, another context)
   */
  decrypt(secret: EncryptedSecret, context: string): string;
  /**
   * Re-encrypt every stored provider key (of every tenant) that is not under the current key. Each record is
   * replaced only if unchanged since it was read, so a key set meanwhile is never overwritten. When the driver
   * keeps an audit log, each re-encryption is recorded (`provider-key:rotate`, actor null).
   */
  rotate(storage: StorageDriver, options?: { now?: () => number }): Promise<RotationReport>;
}

/**
 * The vault cannot decrypt a secret: the master key it names is not configured, or the ciphertext does not
 * authenticate under it (another key under that id, a tampered record, a record moved to another tenant or
 * provider). A configuration problem, so its `code` is `INVALID_OPTION`; `keyId` names the key, and nothing
 * of the key or the secret is in the message.
 */
export class VaultError extends DuhError {
  override name = 'VaultError';
  /** The id of the master key involved. */
  readonly keyId: string;

  constructor(keyId: string, message: string) {
    super('INVALID_OPTION', message);
    this.keyId = keyId;
  }

  /** True for a {@link VaultError} from any copy of the package. */
  static override isInstance(error: unknown): error is VaultError {
    return DuhError.isInstance(error) && error.name === 'VaultError';
  }
}

/** The authenticated context of a tenant's provider key. */
export const providerKeyContext = (tenant: string, provider: string): string => `duh:provider-key:v1\u0000${tenant}\u0000${provider}`;

function decodeKey(id: string, text: unknown): Buffer {
  if (typeof text !== 'string') throw new InvalidOptionError(`keys.${id}`, '[redacted]', `Vault key \`${id}\` must be a string: 32 bytes as base64 or 64 hex digits.`);
  const trimmed = text.trim();
  const bytes = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : /^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed) ? Buffer.from(trimmed, trimmed.includes('-') || trimmed.includes('_') ? 'base64url' : 'base64') : Buffer.alloc(0);
  if (bytes.length !== 32) {
    throw new InvalidOptionError(`keys.${id}`, '[redacted]', `Vault key \`${id}\` must be exactly 32 bytes (AES-256), given as base64 or 64 hex digits; it decodes to ${bytes.length} bytes. Make one with \`openssl rand -base64 32\`.`);
  }
  return bytes;
}

function readKeyring(options: VaultOptions): VaultKeyring {
  const env = options.env ?? (typeof process === 'undefined' ? {} : process.env);
  const source = options.keys ?? env['DUH_VAULT_KEYS'];
  if (source === undefined || source === '') {
    throw new InvalidOptionError(
      'keys',
      undefined,
      'Provider keys are encrypted with a vault keyring: set DUH_VAULT_KEYS to {"current":"k1","keys":{"k1":"<32 bytes base64>"}} or pass `vault: { keys }` (make a key with `openssl rand -base64 32`).',
    );
  }
  let ring: unknown = source;
  if (typeof source === 'string') {
    try {
      ring = JSON.parse(source);
    } catch {
      throw new InvalidOptionError('keys', '[redacted]', 'DUH_VAULT_KEYS (or `keys`) must be JSON: {"current":"k1","keys":{"k1":"<32 bytes base64>"}}.');
    }
  }
  const { current, keys } = (ring ?? {}) as Partial<VaultKeyring>;
  if (typeof keys !== 'object' || keys === null || Array.isArray(keys) || Object.keys(keys).length === 0) {
    throw new InvalidOptionError('keys', '[redacted]', 'The vault keyring needs `keys`: an object of key id → 32-byte key (base64 or hex).');
  }
  if (typeof current !== 'string' || !Object.hasOwn(keys, current)) {
    throw new InvalidOptionError('current', current, `The vault keyring's \`current\` must name one of its keys (${Object.keys(keys).join(', ')}), received ${JSON.stringify(current)}.`);
  }
  return { current, keys };
}

/**
 * Create a vault from a keyring (option or `DUH_VAULT_KEYS`). Keys are checked at once.
 *
 * @throws {InvalidOptionError} when the keyring is missing or malformed, naming the key id at fault (never its value)
 * @example
 * ```ts
 * const vault = createVault({ keys: { current: 'k1', keys: { k1: process.env.VAULT_K1! } } });
 * const sealed = vault.encrypt('sk-live-…', providerKeyContext('acme', 'openai'));
 * vault.decrypt(sealed, providerKeyContext('acme', 'openai')); // 'sk-live-…'
 * ```
 */
export function createVault(options: VaultOptions = {}): Vault {
  const ring = readKeyring(options);
  const keys = new Map<string, Buffer>();
  for (const [id, text] of Object.entries(ring.keys)) {
    if (!/^[A-Za-z0-9._:-]{1,64}$/.test(id)) throw new InvalidOptionError('keys', id, `Vault key id ${JSON.stringify(id)} must be 1-64 letters, digits, dots, dashes, underscores or colons.`);
    keys.set(id, decodeKey(id, text));
  }
  const currentKeyId = ring.current;
  const keyIds = Object.freeze([...keys.keys()]);

  const encrypt = (plaintext: string, context: string): EncryptedSecret => {
    if (typeof plaintext !== 'string' || plaintext === '') throw new InvalidOptionError('secret', '[redacted]', 'Only a non-empty string can be encrypted.');
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', keys.get(currentKeyId)!, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return { ciphertext: ciphertext.toString('base64'), iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), keyId: currentKeyId };
  };

  const decrypt = (secret: EncryptedSecret, context: string): string => {
    const key = keys.get(secret?.keyId);
    if (!key) {
      throw new VaultError(
        String(secret?.keyId),
        `This secret was encrypted with vault key \`${String(secret?.keyId)}\`, which is not configured (configured: ${keyIds.join(', ')}). Add that key back to DUH_VAULT_KEYS, or set the secret again.`,
      );
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(secret.iv, 'base64'));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(Buffer.from(secret.tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(secret.ciphertext, 'base64')), decipher.final()]).toString('utf8');
    } catch {
      // No cause: node's message is generic, and nothing about the key or data belongs in an error.
      throw new VaultError(secret.keyId, `A secret encrypted with vault key \`${secret.keyId}\` does not authenticate: the configured key \`${secret.keyId}\` is not the one that encrypted it, or the stored record was altered or moved to another tenant or provider.`);
    }
  };

  const vault: Vault & { toJSON(): unknown } = {
    currentKeyId,
    keyIds,
    encrypt,
    decrypt,
    async rotate(storage, rotateOptions = {}) {
      const now = rotateOptions.now ?? (() => Date.now());
      const list = requireStorageMethod(storage, 'listProviderKeys', 'provider key rotation');
      const get = requireStorageMethod(storage, 'getProviderKey', 'provider key rotation');
      const put = requireStorageMethod(storage, 'putProviderKey', 'provider key rotation');
      const report: RotationReport = { rotated: 0, current: 0, skipped: 0 };
      for (const info of await list('all')) {
        if (info.keyId === currentKeyId) {
          report.current++;
          continue;
        }
        const scope = { tenant: info.tenant };
        const stored: StoredProviderKey | null = await get(scope, info.provider);
        if (!stored || stored.keyId === currentKeyId) {
          if (stored) report.current++;
          else report.skipped++;
          continue;
        }
        const context = providerKeyContext(info.tenant, info.provider);
        const sealed = encrypt(decrypt(stored, context), context);
        const at = new Date(now()).toISOString();
        const written = await put(scope, { provider: info.provider, ...sealed, at }, { ifCiphertext: stored.ciphertext });
        if (!written) {
          report.skipped++;
          continue;
        }
        report.rotated++;
        if (typeof storage.appendAudit === 'function') {
          await storage.appendAudit(scope, {
            at,
            actor: null,
            action: 'provider-key:rotate',
            resource: `provider-key:${info.provider}`,
            outcome: 'success',
            details: { from: stored.keyId, to: currentKeyId },
          });
        }
      }
      return report;
    },
    toJSON: () => ({ current: currentKeyId, keyIds }),
  };
  Object.defineProperty(vault, Symbol.for('nodejs.util.inspect.custom'), { value: () => `Vault { current: '${currentKeyId}', keyIds: [${keyIds.map((id) => `'${id}'`).join(', ')}] }` });
  return vault;
}
