import { expect } from 'chai';
import { classifyMetaError, WhatsAppPermanentError, WhatsAppRateLimitedError, WhatsAppTransientError } from '../../src/whatsapp/cloud-api-errors.js';
import { messageProblem, toCloudApiBody } from '../../src/whatsapp/messages.js';

describe('Cloud API message bodies', () => {
  it('a session text carries the callback data and no preview', () => {
    expect(toCloudApiBody({ type: 'text', to: '+4915112345678', body: 'Hallo', callbackData: 'd1' })).to.deep.equal({
      messaging_product: 'whatsapp', recipient_type: 'individual', to: '4915112345678', type: 'text',
      text: { preview_url: false, body: 'Hallo' }, biz_opaque_callback_data: 'd1',
    });
  });

  it('a template with named parameters and quick-reply payloads', () => {
    const body = toCloudApiBody({ type: 'template', to: '4915112345678', name: 'daily_update', language: 'de', bodyParams: { cases: '1234' }, quickReplyPayloads: ['keep', 'stop'], callbackData: 'd2' });
    expect(body.template).to.deep.equal({
      name: 'daily_update',
      language: { code: 'de' },
      components: [
        { type: 'body', parameters: [{ type: 'text', parameter_name: 'cases', text: '1234' }] },
        { type: 'button', sub_type: 'quick_reply', index: '0', parameters: [{ type: 'payload', payload: 'keep' }] },
        { type: 'button', sub_type: 'quick_reply', index: '1', parameters: [{ type: 'payload', payload: 'stop' }] },
      ],
    });
    expect(body.biz_opaque_callback_data).to.equal('d2');
  });

  it('positional parameters omit parameter_name', () => {
    const body = toCloudApiBody({ type: 'template', to: '4915112345678', name: 't', language: 'en_US', bodyParams: ['a', 'b'], callbackData: 'd' });
    expect((body.template as { components: unknown[] }).components).to.deep.equal([{ type: 'body', parameters: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }]);
  });

  it('refuses more than three buttons, long titles and duplicate ids', () => {
    const buttons = (n: number, title = 'ok') => Array.from({ length: n }, (_, i) => ({ id: `b${i}`, title }));
    const base = { type: 'buttons' as const, to: '4915112345678', body: 'x', callbackData: 'd' };
    expect(messageProblem({ ...base, buttons: buttons(3) })).to.equal(undefined);
    expect(messageProblem({ ...base, buttons: buttons(4) })).to.match(/^buttons: must have 1 to 3/);
    expect(messageProblem({ ...base, buttons: buttons(1, 'x'.repeat(21)) })).to.match(/^buttons\[0\]\.title/);
    expect(messageProblem({ ...base, buttons: [{ id: 'a', title: 'A' }, { id: 'a', title: 'B' }] })).to.match(/duplicate/);
  });
});

describe('classifyMetaError', () => {
  it('maps status-webhook errors the same way as API answers', () => {
    const failed = classifyMetaError({ code: '131047', message: 'Re-engagement message' });
    expect(failed).to.be.instanceOf(WhatsAppPermanentError);
    expect(failed).to.include({ code: '131047', kind: 'outside-window', retry: false, scope: 'contact' });
  });

  it('prefers a Retry-After header and masks phone numbers in Meta texts', () => {
    const err = classifyMetaError({ code: '130429', retryAfterMs: 7000, message: 'limit for 4915112345678' });
    expect(err).to.be.instanceOf(WhatsAppRateLimitedError);
    expect(err.retryAfterMs).to.equal(7000);
    expect(err.message).not.to.include('4915112345678');
  });

  it('falls back on the HTTP status for unknown codes', () => {
    expect(classifyMetaError({ code: '777', httpStatus: 503 })).to.be.instanceOf(WhatsAppTransientError);
    expect(classifyMetaError({ code: '777', httpStatus: 429 })).to.be.instanceOf(WhatsAppRateLimitedError);
    expect(classifyMetaError({ code: '777', httpStatus: 400 })).to.include({ retry: false, scope: 'contact', kind: 'unknown' });
  });
});
