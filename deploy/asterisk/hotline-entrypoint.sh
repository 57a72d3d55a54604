#!/bin/sh
# Start Asterisk for the hotline:
#  - write manager.conf and pjsip.conf from their templates with values from the
#    environment (AMI credentials; the NAT addresses SIP and RTP must announce);
#  - keep the line carrying audio during long recordings (transmit_silence);
#  - run Asterisk as the unprivileged user `asterisk`, in the group that shares the
#    recording spool with the ivr service (HOTLINE_GID, 1000 as in ivr.Dockerfile).
set -eu
: "${AMI_USER:?}" "${AMI_SECRET:?}"
SIP_EXTERNAL_ADDRESS="${SIP_EXTERNAL_ADDRESS:-}"
SIP_LOCAL_NET="${SIP_LOCAL_NET:-172.16.0.0/12}"
HOTLINE_GID="${HOTLINE_GID:-1000}"

sed -e "s|\${AMI_USER}|$AMI_USER|g" -e "s|\${AMI_SECRET}|$AMI_SECRET|g" \
    /etc/asterisk/manager.conf.in > /etc/asterisk/manager.conf
if [ -n "$SIP_EXTERNAL_ADDRESS" ]; then
  sed -e "s|\${SIP_EXTERNAL_ADDRESS}|$SIP_EXTERNAL_ADDRESS|g" -e "s|\${SIP_LOCAL_NET}|$SIP_LOCAL_NET|g" \
      /etc/asterisk/pjsip.conf.in > /etc/asterisk/pjsip.conf
else
  sed -e '/^external_[a-z_]*=\${SIP_EXTERNAL_ADDRESS}/d' -e "s|\${SIP_LOCAL_NET}|$SIP_LOCAL_NET|g" \
      /etc/asterisk/pjsip.conf.in > /etc/asterisk/pjsip.conf
fi
chmod 0640 /etc/asterisk/manager.conf /etc/asterisk/pjsip.conf

# [options] in asterisk.conf: silence frames while recording, so NAT bindings and
# the provider's media timers do not drop a caller who pauses in a long report.
conf=/etc/asterisk/asterisk.conf
touch "$conf"
grep -q '^\[options\]' "$conf" || printf '[options]\n' >> "$conf"
grep -q '^transmit_silence' "$conf" || sed -i 's/^\[options\]/[options]\ntransmit_silence = yes/' "$conf"

# An unprivileged user in the spool's group.
if ! getent group "$HOTLINE_GID" >/dev/null 2>&1; then
  groupadd -g "$HOTLINE_GID" hotline 2>/dev/null || addgroup -g "$HOTLINE_GID" hotline
fi
group=$(getent group "$HOTLINE_GID" | cut -d: -f1)
if ! id asterisk >/dev/null 2>&1; then
  useradd -r -M -g "$group" asterisk 2>/dev/null || adduser -S -D -H -G "$group" asterisk
fi
for dir in /var/spool/asterisk /var/log/asterisk /var/run/asterisk; do
  mkdir -p "$dir" && chown -R asterisk "$dir"
done
# Not into the read-only sound mounts: -xdev stays on the image's own filesystem.
mkdir -p /var/lib/asterisk && find /var/lib/asterisk -xdev -exec chown asterisk {} +
chown asterisk /etc/asterisk/manager.conf /etc/asterisk/pjsip.conf
# The recording spool: shared with the ivr service through the group, no one else.
mkdir -p /var/spool/hotline
chgrp "$group" /var/spool/hotline && chmod 2770 /var/spool/hotline

exec asterisk -f -U asterisk -G "$group" -vvv
