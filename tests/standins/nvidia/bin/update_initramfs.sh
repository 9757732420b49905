#!/bin/sh
# STAND-IN for update-initramfs (initramfs-tools), which the lab's Debian machines do not carry: it takes
# the profile's time for rebuilding an initramfs (/etc/ai-sandbox-lab/update-initramfs-seconds).
seconds=$(cat /etc/ai-sandbox-lab/update-initramfs-seconds 2>/dev/null || echo 0)
echo "update-initramfs: Generating /boot/initrd.img-$(uname -r) (stand-in, ${seconds} s)"
sleep "$seconds"
