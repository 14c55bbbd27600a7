import type { Reply } from '../domain/conversation.js';
import type { CloudApiSender } from '../whatsapp/cloud-api-client.js';
import type { ReplyRecipient, ReplySender } from './inbound-processor.js';

/** The conversation's replies, sent as Cloud API session messages. */
export function whatsappReplies(sender: CloudApiSender): ReplySender {
  return {
    async sendReply(to: ReplyRecipient, reply: Reply, callbackData: string): Promise<void> {
      const address = 'waId' in to ? to.waId : to.userId;
      if (reply.kind === 'text') {
        await sender.send({ type: 'text', to: address, body: reply.body, callbackData });
      } else {
        await sender.send({ type: 'buttons', to: address, body: reply.body, buttons: reply.buttons, callbackData });
      }
    },
  };
}
