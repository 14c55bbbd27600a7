/** Plain HTTP calls to a sandbox, for tests that check status codes and bodies as the Cloud API sends them. */
export interface MetaAnswer {
  status: number;
  body: {
    messages?: { id: string }[];
    contacts?: { input: string; wa_id: string }[];
    error?: { code: number; message: string; type: string; error_data: { details: string }; fbtrace_id: string };
  };
}

export async function postMessage(baseUrl: string, phoneNumberId: string, token: string | undefined, body: unknown): Promise<MetaAnswer> {
  const response = await fetch(`${baseUrl}/v25.0/${phoneNumberId}/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as MetaAnswer['body'] };
}

export async function sandboxCall<T>(baseUrl: string, method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as T };
}

export const textBody = (to: string, body = 'Hallo', callback = 'cb-1') => ({
  messaging_product: 'whatsapp', recipient_type: 'individual', to, type: 'text', text: { preview_url: false, body }, biz_opaque_callback_data: callback,
});

export const templateBody = (to: string, name = 'hello_world', language = 'en_US', callback = 'cb-t') => ({
  messaging_product: 'whatsapp', to, type: 'template', template: { name, language: { code: language } }, biz_opaque_callback_data: callback,
});
